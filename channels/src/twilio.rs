//! What Twilio SMS and voice share: the REST call with Basic auth and
//! idempotency headers, the error-code mapping, the `X-Twilio-Signature`
//! scheme and the meaning of status-callback values. The service's webhook
//! handlers use the signature and status functions directly.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde::Deserialize;
use sha1::Sha1;

use crate::http::{
    base_url, build_client, client_builder, error_body, retry_after, transport_error,
};
use crate::{ConfigError, Secret, SendError, SendReceipt};

pub(crate) const PROVIDER: &str = "twilio";
const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Send-time error codes that mean the number itself cannot be reached, so
/// retrying or keeping the contact active is pointless.
const DEAD_NUMBER_CODES: [u32; 7] = [
    21211, // invalid 'To' number
    21217, // phone number does not appear to be valid (calls)
    21610, // recipient replied STOP
    21612, // 'To' number cannot be reached by this channel
    21614, // 'To' number is not a mobile number
    13223, // dial: invalid phone number format
    13224, // dial: invalid phone number
];

/// An authenticated client for one account on Twilio or a compatible gateway.
pub(crate) struct TwilioApi {
    client: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: Secret,
}

impl std::fmt::Debug for TwilioApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioApi")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token)
            .finish_non_exhaustive()
    }
}

impl TwilioApi {
    pub(crate) fn new(
        base: Option<&str>,
        account_sid: &str,
        auth_token: &Secret,
    ) -> Result<Self, ConfigError> {
        let invalid = |field, reason: &str| ConfigError::InvalidField {
            provider: PROVIDER,
            field,
            reason: reason.to_owned(),
        };
        if account_sid.is_empty()
            || !account_sid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid("account_sid", "must be the account SID, e.g. AC…"));
        }
        if auth_token.expose().trim().is_empty() {
            return Err(invalid("auth_token", "must not be empty"));
        }
        Ok(TwilioApi {
            client: build_client(client_builder(), PROVIDER)?,
            base_url: base_url(base, DEFAULT_BASE_URL, PROVIDER, "base_url")?,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.clone(),
        })
    }

    /// POSTs a form to `Messages.json` or `Calls.json` and returns the new sid.
    pub(crate) async fn create(
        &self,
        resource: &str,
        form: &[(&'static str, String)],
        idempotency_key: &str,
    ) -> Result<SendReceipt, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            self.base_url, self.account_sid
        );
        let key = header_safe(idempotency_key);
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header("I-Twilio-Idempotency-Token", &key)
            .header("Idempotency-Key", &key)
            .form(form)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        if status.is_success() {
            let created: Created = response.json().await.map_err(|e| {
                SendError::retryable(format!("twilio: accepted but unreadable answer: {e}"), None)
            })?;
            return Ok(SendReceipt {
                provider_id: Some(created.sid),
                delivered: false,
            });
        }
        let wait = retry_after(response.headers());
        let body = error_body(response).await;
        Err(classify_error(status, &body, wait))
    }
}

/// Idempotency keys go into headers; anything a header cannot carry is
/// hex-escaped so the key stays stable instead of failing the request.
fn header_safe(key: &str) -> String {
    if key.bytes().all(|b| b.is_ascii_graphic()) {
        return key.to_owned();
    }
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Maps a Twilio REST error onto [`SendError`].
pub(crate) fn classify_error(status: StatusCode, body: &str, wait: Option<Duration>) -> SendError {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return SendError::permanent(format!(
            "twilio: gateway rejected credentials (HTTP {})",
            status.as_u16()
        ));
    }
    let error = serde_json::from_str::<ErrorBody>(body).ok();
    let code = error.as_ref().and_then(|e| e.code);
    let message = error
        .and_then(|e| e.message)
        .unwrap_or_else(|| "no message".to_owned());
    let reason = match code {
        Some(code) => format!("twilio: HTTP {} error {code}: {message}", status.as_u16()),
        None => format!("twilio: HTTP {}: {message}", status.as_u16()),
    };
    if status == StatusCode::TOO_MANY_REQUESTS || code == Some(20429) || status.is_server_error() {
        return SendError::retryable(reason, wait);
    }
    if code.is_some_and(|c| DEAD_NUMBER_CODES.contains(&c)) {
        return SendError::invalid_address(reason);
    }
    SendError::permanent(reason)
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// The `X-Twilio-Signature` for a form POST: base64(HMAC-SHA1(auth token,
/// url + every distinct parameter name and value, sorted by name then value)).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Checks a webhook's `X-Twilio-Signature` in constant time.
///
/// Like Twilio's own libraries it also accepts the signature computed with
/// the default port added or an explicit port removed, since proxies in
/// front of the service disagree with Twilio about whether the port is part
/// of the URL.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(expected) = BASE64.decode(header.trim()) else {
        return false;
    };
    let alternative = toggle_port(url);
    std::iter::once(url)
        .chain(alternative.as_deref())
        .any(|candidate| {
            mac(auth_token, candidate, params)
                .verify_slice(&expected)
                .is_ok()
        })
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // Twilio's own validators count a repeated identical pair once.
    sorted.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The same URL with its port removed, or with the scheme's default port
/// added when it has none.
fn toggle_port(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let default_port = match url[..scheme_end].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    let port_colon = host_port
        .rfind(':')
        .filter(|&colon| !host_port[colon..].contains(']'));
    let new_host_port = match port_colon {
        Some(colon) => host_port[..colon].to_owned(),
        None => format!("{host_port}:{default_port}"),
    };
    Some(format!(
        "{}{}{new_host_port}{}",
        &url[..authority_start],
        &authority[..host_start],
        &rest[authority_len..]
    ))
}

/// What a status callback says about a message or call.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportedStatus {
    /// On its way; nothing to record yet.
    Accepted,
    Delivered,
    Failed {
        reason: String,
        /// The number is dead and the contact should be deactivated.
        invalid_address: bool,
    },
}

/// Interprets `MessageStatus` (and `ErrorCode`) from an SMS status callback;
/// `None` for values that are not about outbound delivery.
pub fn message_status(status: &str, error_code: Option<&str>) -> Option<ReportedStatus> {
    match status {
        "queued" | "accepted" | "scheduled" | "sending" | "sent" => Some(ReportedStatus::Accepted),
        "delivered" | "read" => Some(ReportedStatus::Delivered),
        "undelivered" | "failed" | "canceled" => {
            let code = error_code.map(str::trim).filter(|c| !c.is_empty());
            let (reason, invalid_address) = match code {
                Some(code) => {
                    let (meaning, dead) = delivery_error(code);
                    (format!("message {status}: error {code} ({meaning})"), dead)
                }
                None => (format!("message {status}"), false),
            };
            Some(ReportedStatus::Failed {
                reason,
                invalid_address,
            })
        }
        _ => None,
    }
}

/// Meaning of a delivery error code and whether it proves the number dead.
/// Codes for a handset that is merely off or out of coverage (30003) or for
/// carrier filtering are not the resident's fault and keep the contact.
fn delivery_error(code: &str) -> (&'static str, bool) {
    match code {
        "21211" => ("invalid 'To' number", true),
        "21610" => ("recipient unsubscribed", true),
        "21612" => ("number not reachable by SMS", true),
        "21614" => ("not a mobile number", true),
        "30003" => ("unreachable handset", false),
        "30004" => ("message blocked", false),
        "30005" => ("unknown destination handset", true),
        "30006" => ("landline or unreachable carrier", true),
        "30007" => ("carrier filtering", false),
        "30008" => ("unknown error", false),
        _ => ("see Twilio's error reference", false),
    }
}

/// Interprets `CallStatus` from a voice status callback.
pub fn call_status(status: &str) -> Option<ReportedStatus> {
    let failed = |reason: &str| ReportedStatus::Failed {
        reason: reason.to_owned(),
        invalid_address: false,
    };
    match status {
        "queued" | "initiated" | "ringing" => Some(ReportedStatus::Accepted),
        "in-progress" | "answered" | "completed" => Some(ReportedStatus::Delivered),
        "busy" => Some(failed("call busy")),
        "no-answer" => Some(failed("call not answered")),
        "canceled" => Some(failed("call canceled")),
        // Twilio reports unreachable and invalid numbers alike as "failed"
        // without a code, so it cannot justify deactivating the contact.
        "failed" => Some(failed("call failed")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// The example from Twilio's request-validation docs and client libraries.
    fn documented() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn matches_twilios_documented_vector() {
        assert_eq!(
            signature("12345", URL, &documented()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify_signature(
            "12345",
            URL,
            &documented(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn repeated_parameters_are_sorted_and_deduplicated() {
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            signature("12345", URL, &repeated),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn ports_are_tolerated_both_ways() {
        let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(verify_signature(
            "12345",
            with_port,
            &documented(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // Twilio signed the URL with :443 while we see it without.
        assert!(verify_signature(
            "12345",
            URL,
            &documented(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert_eq!(
            toggle_port("http://user@[::1]:8080/x?y"),
            Some("http://user@[::1]/x?y".to_owned())
        );
        assert_eq!(
            toggle_port("http://[::1]/x"),
            Some("http://[::1]:80/x".to_owned())
        );
    }

    #[test]
    fn tampering_fails_verification() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut tampered = documented();
        tampered[2].1 = "9999".into();
        assert!(!verify_signature("12345", URL, &tampered, sig));
        assert!(!verify_signature("54321", URL, &documented(), sig));
        assert!(!verify_signature(
            "12345",
            &format!("{URL}&x=1"),
            &documented(),
            sig
        ));
        assert!(!verify_signature(
            "12345",
            URL,
            &documented(),
            "not base64!"
        ));
        assert!(!verify_signature("12345", URL, &documented(), ""));
    }

    #[test]
    fn message_statuses() {
        assert_eq!(message_status("sent", None), Some(ReportedStatus::Accepted));
        assert_eq!(
            message_status("delivered", None),
            Some(ReportedStatus::Delivered)
        );
        assert_eq!(message_status("received", None), None);
        let dead = |code| match message_status("undelivered", Some(code)) {
            Some(ReportedStatus::Failed {
                invalid_address, ..
            }) => invalid_address,
            other => panic!("{other:?}"),
        };
        assert!(dead("30005"));
        assert!(dead("30006"));
        assert!(dead("21211"));
        assert!(dead("21610"));
        assert!(!dead("30003"));
        assert!(!dead("30007"));
        assert_eq!(
            message_status("failed", None),
            Some(ReportedStatus::Failed {
                reason: "message failed".into(),
                invalid_address: false
            })
        );
    }

    #[test]
    fn call_statuses() {
        assert_eq!(call_status("ringing"), Some(ReportedStatus::Accepted));
        assert_eq!(call_status("completed"), Some(ReportedStatus::Delivered));
        assert!(matches!(
            call_status("no-answer"),
            Some(ReportedStatus::Failed {
                invalid_address: false,
                ..
            })
        ));
        assert_eq!(call_status("weird"), None);
    }

    #[test]
    fn rest_errors_are_classified() {
        let body = |code: u32| format!(r#"{{"code":{code},"message":"m","status":400}}"#);
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, &body(21211), None),
            SendError::InvalidAddress { .. }
        ));
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, &body(21408), None),
            SendError::Permanent { .. }
        ));
        assert!(classify_error(StatusCode::BAD_REQUEST, &body(20429), None).is_retryable());
        let err = classify_error(StatusCode::UNAUTHORIZED, &body(20003), None);
        assert_eq!(
            err,
            SendError::Permanent {
                reason: "twilio: gateway rejected credentials (HTTP 401)".into()
            }
        );
    }

    #[test]
    fn idempotency_keys_are_header_safe() {
        assert_eq!(header_safe("d-42-a"), "d-42-a");
        assert_eq!(header_safe("a b\u{e9}"), "a%20b%C3%A9");
    }
}
