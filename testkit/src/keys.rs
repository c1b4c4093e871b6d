//! The fixed key pairs the mocks sign and verify with.
//!
//! Generated once with openssl for tests only; they protect nothing. Fixed
//! keys keep test runs reproducible and spare every run a key generation.

/// RSA-2048 private key (PKCS#8) put into the mock FCM service account.
pub const FCM_PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCmHATdmD6TvP9D
EjbqCmZ9vUnu/DTVDAp5J6l2pZkk+WAkiECQLnVaPl0BhqddGZwtTuxhdO3wqoP6
SlSUmvirXwz4+gMmy3VyHU0MD2gHy/ws0uFK9nDoTawkRrCuTGTvWJgJVMvXF88s
bJmjnN/C5U7aXJxyWvD4H3RA9AtRs1uHh3e8Erkjh/Pq6NDiwjC4eIerSFptWi3h
7w6IQAChXTmkM06jXMAsJHhzekfvZXT2vnUlBvS/hjcS0iI5Bb9qJKw91+x0+p8G
LB+TkyyJAHL0rl1KHDzEI4nxDVpKE6fGSoTH1xXyBRb4MH9RA8C+sLtH4Qqm779p
ben/nu7jAgMBAAECggEAMdYdNZi8SZn+IdLgq+Yz6sy0VmHPvg2vRLs8Ei9L27Z/
/GXurPNrXQhx4gfSxdFttIBF1lV9H+Qg1aKgbrdyHQRXAYoNEQIg+fxFhfVHWnN+
dLpOQq3eoSvQlk+pKZoc/FxhvQb2Y1Gu5B6vF9H0pmYi+sunWn3jZyYUvHobvUZt
NzKCYqckRdajeHP+V5q8/4kf6AJ2te5BYe0zn1ggWgZqrAXXLse2mWsYQH9O+g8z
6NNwFRMD+RxpAOB3HkHzWI1PBTCIIN/nCduC3QSr/LEi6xvIglor4pClzORIwj5q
d4r5VAEahCxhsS1jFEpGc/04S2sv4VKLpmYVpQEa5QKBgQDXgr/utDwXVIVWWYSP
Nr5l/vqt8T0o8W6fiX+k+0Jn2aveFaeDebsS3mWVX5hw5VUx3kfTX/NN/OJDrL2W
dsfqJ0x4GXnexSg7GVZlC/nsXNjySEWJ1/BECeqUAcDmaCyiWTwOsn6sQ8YxItHV
WuntNLAYwE94ZhUl2rq+MfRTzwKBgQDFUUEXuyOSr76aYH11doq1EA7bteK3+qDd
Sb908ustiOUvwLekLGz2NLF2I/ydiHGIYSrda2H6M7SA+/1U9LYnQLARyiI185N0
RkXqpMTSMLWoKLgRogKk2fUmN8PmZ0YnSMcgwk56f53v2EkAle0bYofulsGhMX3a
s8bm44/0rQKBgA80mnYtIVBEFmRRTJkOM8DejLFZJAePgU6gVPE/CSBqq0WwIXGV
VS2vo1s2s3rDs48hL9AqJPCLtysvNPE40EIlI7AVnBOrtXr1/rKCdc/HfUca8k0X
f0xNps9qkEGxd/S8dxBSZ72fyowM+OEk2Pxzizkz2GeWTEevdx2USLjhAoGBAL26
8NVJy93bgXJd/6T4FE4gH7liPpvbsdy2chOZFUxWitINBEgns6pWZqGL3vb3YPvb
OuVnwPFd0F4Kb8DGAXTi/apNa/Hmwc2XWNlUEDFwRuxoIv5JgzNSpShXjNY6Tbmu
gFLeo6mklpAur5uRjkm7x6tCaPN/bF3kaghPnneNAoGALctUvfZrnpIuYVF2Y3sh
sl0YOEjXpOW103/UpjiSE7fIXMD6nXlOB10QCpozXr9IZd+GZbhlsqT1BQW/QQa/
pRpCiMUP/7S3mdCaFHB7WkndjgcCf3XEnBKx7JE1XPgo6QIafNnMKwZk4wbswNsm
Y/9TanvYAt7ZuEu0L9KSBC8=
-----END PRIVATE KEY-----
";

/// Public half of [`FCM_PRIVATE_KEY_PEM`]; the mock token endpoint verifies assertions with it.
pub const FCM_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAphwE3Zg+k7z/QxI26gpm
fb1J7vw01QwKeSepdqWZJPlgJIhAkC51Wj5dAYanXRmcLU7sYXTt8KqD+kpUlJr4
q18M+PoDJst1ch1NDA9oB8v8LNLhSvZw6E2sJEawrkxk71iYCVTL1xfPLGyZo5zf
wuVO2lycclrw+B90QPQLUbNbh4d3vBK5I4fz6ujQ4sIwuHiHq0habVot4e8OiEAA
oV05pDNOo1zALCR4c3pH72V09r51JQb0v4Y3EtIiOQW/aiSsPdfsdPqfBiwfk5Ms
iQBy9K5dShw8xCOJ8Q1aShOnxkqEx9cV8gUW+DB/UQPAvrC7R+EKpu+/aW3p/57u
4wIDAQAB
-----END PUBLIC KEY-----
";

/// P-256 private key (PKCS#8), the content of the mock `.p8` APNs key file.
pub const APNS_PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/61Hk0I9/sr+cRjY
NmmLD4AF6qgb1DaUuittfDGi+1mhRANCAARhFzymt7nqcNgQFcaA1ArT4brB7Il6
XI2X2pXdllgPvOhKi029s7DP7cFI0NQzIARjhFdo77NZWEXGhydsrZ+5
-----END PRIVATE KEY-----
";

/// Public half of [`APNS_PRIVATE_KEY_PEM`]; the mock APNs verifies provider tokens with it.
pub const APNS_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYRc8pre56nDYEBXGgNQK0+G6weyJ
elyNl9qV3ZZYD7zoSotNvbOwz+3BSNDUMyAEY4RXaO+zWVhFxocnbK2fuQ==
-----END PUBLIC KEY-----
";
