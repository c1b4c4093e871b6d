//! All mock providers at once, and the `[channels.*]` configuration that
//! points Tocsin at them: what the service tests and the load check use.

/// A running set of mock providers and the config that points Tocsin at them.
#[derive(Debug)]
pub struct Providers {
    pub fcm: crate::FcmMock,
    pub apns: crate::ApnsMock,
    pub twilio: crate::TwilioMock,
    pub smtp: crate::SmtpSink,
    pub keys: tempfile::TempDir,
}

impl Providers {
    pub async fn start() -> Self {
        Self {
            fcm: crate::FcmMock::start().await,
            apns: crate::ApnsMock::start().await,
            twilio: crate::TwilioMock::start().await,
            smtp: crate::SmtpSink::start().await,
            keys: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Messages (and calls) accepted by every mock together.
    pub fn accepted(&self) -> usize {
        self.fcm.accepted() + self.apns.accepted() + self.twilio.accepted() + self.smtp.accepted()
    }

    /// Every channel's tally, named as in the `[channels.*]` sections.
    pub fn tallies(&self) -> Vec<(&'static str, crate::Tally)> {
        vec![
            ("fcm", self.fcm.tally()),
            ("apns", self.apns.tally()),
            ("sms", self.twilio.tally()),
            ("voice", self.twilio.call_tally()),
            ("email", self.smtp.tally()),
        ]
    }

    /// `[channels.*]` sections for every mock, plus `extra` TOML.
    pub fn config(&self, extra: &str) -> String {
        use crate::{ApnsMock, TwilioMock};
        let account = TwilioMock::ACCOUNT_SID;
        let token = TwilioMock::AUTH_TOKEN;
        let twilio = self.twilio.base_url();
        format!(
            r#"{extra}
[channels.fcm]
provider = "fcm"
service_account_file = "{fcm_file}"
base_url = "{fcm}"

[channels.apns]
provider = "apns"
key_file = "{apns_key}"
key_id = "{key_id}"
team_id = "{team_id}"
topic = "{topic}"
base_url = "{apns}"

[channels.sms]
provider = "twilio"
base_url = "{twilio}"
account_sid = "{account}"
auth_token = "{token}"
from = "+380501234567"

[channels.voice]
provider = "twilio"
base_url = "{twilio}"
account_sid = "{account}"
auth_token = "{token}"
from = "+380501234568"

[channels.email]
provider = "smtp"
host = "{smtp_host}"
port = {smtp_port}
tls = "none"
from = "Tocsin Lutsk <alerts@lutsk.example>"
"#,
            fcm_file = self.fcm.write_service_account(self.keys.path()).display(),
            fcm = self.fcm.base_url(),
            apns_key = self.apns.write_key(self.keys.path()).display(),
            key_id = ApnsMock::KEY_ID,
            team_id = ApnsMock::TEAM_ID,
            topic = ApnsMock::TOPIC,
            apns = self.apns.base_url(),
            smtp_host = self.smtp.host(),
            smtp_port = self.smtp.port(),
        )
    }
}
