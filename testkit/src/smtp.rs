//! A minimal SMTP server that records what it is sent.
//!
//! It speaks enough of RFC 5321 for lettre and most clients (EHLO/HELO,
//! optional AUTH PLAIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT), rejects recipients at `bounce.invalid` with `550 5.1.1` at RCPT
//! like a real server rejecting an unknown mailbox, and can decode what it
//! received so tests can assert on the text a resident would read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::Tally;
use crate::control::{Control, Server, lock};

const BOUNCE_DOMAIN: &str = "bounce.invalid";
/// Stops a runaway client from growing one line without bound.
const MAX_LINE: usize = 64 * 1024;

/// One accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMail {
    /// MAIL FROM address, without angle brackets.
    pub from: String,
    /// RCPT TO addresses that were accepted.
    pub to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, CRLF line endings.
    pub data: String,
}

impl ReceivedMail {
    /// A header's value, unfolded and with RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.split();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| decode_words(value.trim()))
        })
    }

    /// The body decoded according to Content-Transfer-Encoding (base64,
    /// quoted-printable or none) and read as UTF-8.
    pub fn body_text(&self) -> String {
        let (_, body) = self.split();
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                BASE64.decode(compact).unwrap_or_default()
            }
            "quoted-printable" => decode_quoted_printable(body),
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn split(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""))
    }
}

/// The SMTP sink; see the module docs.
#[derive(Debug)]
pub struct SmtpSink {
    state: Arc<SinkState>,
    server: Server,
}

#[derive(Debug)]
struct SinkState {
    control: Control,
    mails: Mutex<Vec<ReceivedMail>>,
    credentials: Option<(String, String)>,
}

impl SmtpSink {
    /// A sink that needs no authentication.
    pub async fn start() -> SmtpSink {
        Self::launch(None).await
    }

    /// A sink that advertises AUTH PLAIN and refuses MAIL until the client
    /// authenticated with these credentials.
    pub async fn start_with_auth(username: &str, password: &str) -> SmtpSink {
        Self::launch(Some((username.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> SmtpSink {
        let (listener, addr) = Server::listen().await;
        let state = Arc::new(SinkState {
            control: Control::new(),
            mails: Mutex::new(Vec::new()),
            credentials,
        });
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, &state).await {
                        tracing::debug!("SMTP sink session ended: {e}");
                    }
                });
            }
        });
        SmtpSink {
            state,
            server: Server::spawned(addr, task),
        }
    }

    pub fn host(&self) -> String {
        self.server.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// Accepted messages, oldest first.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.state.mails).clone()
    }

    /// Accepted messages per RCPT address; the content is the subject and
    /// decoded text, leaving out the Date and other headers a resend
    /// changes.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::new();
        for mail in lock(&self.state.mails).iter() {
            let content = (mail.header("Subject"), mail.body_text());
            for rcpt in &mail.to {
                tally.record(rcpt, &content);
            }
        }
        tally
    }

    /// Transactions that reached the end of DATA, rejected ones included.
    pub fn request_count(&self) -> usize {
        self.state.control.requests()
    }

    /// Delays the reply to the end of DATA.
    pub fn set_delay(&self, delay: Duration) {
        self.state.control.set_delay(delay);
    }

    /// The next `count` messages are answered with `code` (e.g. 451 or 554)
    /// at the end of DATA instead of being accepted.
    pub fn fail_next(&self, count: usize, code: u16) {
        self.state.control.fail_next(count, code, None);
    }

    /// Messages accepted so far, without copying them.
    pub fn accepted(&self) -> usize {
        self.state.control.accepted()
    }

    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        self.state.control.wait_for(count, timeout).await
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, state: &SinkState) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut authenticated = state.credentials.is_none();
    let mut txn = Transaction::default();
    write
        .write_all(b"220 tocsin-testkit ESMTP ready\r\n")
        .await?;
    while let Some(line) = read_line(&mut lines).await? {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            txn = Transaction::default();
            let auth = if state.credentials.is_some() {
                "250-AUTH PLAIN\r\n"
            } else {
                ""
            };
            format!("250-tocsin-testkit\r\n{auth}250-8BITMIME\r\n250 SMTPUTF8\r\n")
        } else if upper.starts_with("HELO") {
            txn = Transaction::default();
            "250 tocsin-testkit\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = line.get(10..).map(str::trim).filter(|s| !s.is_empty());
            let response = match initial {
                Some(r) => r.to_owned(),
                None => {
                    write.write_all(b"334 \r\n").await?;
                    read_line(&mut lines).await?.unwrap_or_default()
                }
            };
            authenticated = check_plain(&response, state.credentials.as_ref());
            if authenticated {
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            if !authenticated {
                "530 5.7.0 Authentication required\r\n".into()
            } else {
                txn = Transaction {
                    from: Some(path_address(&line[10..])),
                    to: Vec::new(),
                };
                "250 2.1.0 OK\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = path_address(&line[8..]);
            if txn.from.is_none() {
                "503 5.5.1 MAIL first\r\n".into()
            } else if rcpt
                .to_ascii_lowercase()
                .ends_with(&format!("@{BOUNCE_DOMAIN}"))
            {
                "550 5.1.1 mailbox unavailable\r\n".into()
            } else {
                txn.to.push(rcpt);
                "250 2.1.5 OK\r\n".into()
            }
        } else if upper == "DATA" {
            if txn.to.is_empty() {
                "554 5.5.1 No valid recipients\r\n".into()
            } else {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut lines).await?;
                let txn = std::mem::take(&mut txn);
                finish_data(state, txn, data).await
            }
        } else if upper == "RSET" {
            txn = Transaction::default();
            "250 2.0.0 OK\r\n".into()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

async fn finish_data(state: &SinkState, txn: Transaction, data: String) -> String {
    let arrival = state.control.count_request();
    if let Some(failure) = state.control.take_failure(arrival) {
        state.control.pause().await;
        return format!("{} planned failure\r\n", failure.status);
    }
    let id = {
        let mut mails = lock(&state.mails);
        mails.push(ReceivedMail {
            from: txn.from.unwrap_or_default(),
            to: txn.to,
            data,
        });
        mails.len()
    };
    state.control.accept();
    state.control.pause().await;
    format!("250 2.0.0 OK queued as {id}\r\n")
}

/// One line without its CRLF; `None` at end of stream.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Reads DATA up to the lone dot, undoing the sender's dot-stuffing.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<String> {
    let mut lines = Vec::new();
    while let Some(line) = read_line(reader).await? {
        if line == "." {
            break;
        }
        lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
    }
    let mut data = lines.join("\r\n");
    data.push_str("\r\n");
    Ok(data)
}

/// `<a@b> SIZE=123` -> `a@b`.
fn path_address(rest: &str) -> String {
    let rest = rest.trim();
    let path = rest.split_whitespace().next().unwrap_or_default();
    path.trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn check_plain(response: &str, expected: Option<&(String, String)>) -> bool {
    let Some((user, pass)) = expected else {
        return false;
    };
    let Ok(decoded) = BASE64.decode(response.trim()) else {
        return false;
    };
    let parts: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
    parts.len() == 3 && parts[1] == user.as_bytes() && parts[2] == pass.as_bytes()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=` / `?q?`), joining
/// adjacent ones without the whitespace between them as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut last_was_word = false;
    for token in value.split(' ') {
        match decode_word(token) {
            Some(bytes) => {
                pending.extend(bytes);
                last_was_word = true;
            }
            None => {
                if last_was_word {
                    out.push_str(&String::from_utf8_lossy(&pending));
                    pending.clear();
                    out.push(' ');
                } else if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                last_was_word = false;
            }
        }
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out
}

fn decode_word(token: &str) -> Option<Vec<u8>> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let _charset = parts.next()?;
    let encoding = parts.next()?;
    let text = parts.next()?;
    match encoding {
        "b" | "B" => BASE64.decode(text).ok(),
        "q" | "Q" => Some(decode_quoted_printable(&text.replace('_', " "))),
        _ => None,
    }
}

fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_headers_and_bodies() {
        let mail = ReceivedMail {
            from: "a@b".into(),
            to: vec!["c@d".into()],
            data: "Subject: =?utf-8?b?0JLRltC0?=\r\n =?utf-8?b?0LrQu9GO0YfQtdC90L3Rjw==?= x\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                   caf=C3=A9 =\r\nau lait\r\n"
                .into(),
        };
        assert_eq!(mail.header("subject").unwrap(), "Відключення x");
        assert_eq!(mail.body_text(), "café au lait\r\n");
    }
}
