//! Builds one `Channel` per channel kind from configuration: the real
//! provider when a section configures one, the simulated provider
//! otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use tocsin_channels::{
    ApnsChannel, Channel, ChannelKind, ConfigError, FcmChannel, Outbox, SimulatedChannel,
    SmtpChannel, TwilioSms, TwilioVoice,
};

use crate::config::{
    ApnsSection, ChannelsConfig, EmailSection, FcmSection, SmsSection, VoiceSection,
};

#[derive(Debug, Clone)]
pub struct ChannelSet {
    channels: HashMap<ChannelKind, Arc<dyn Channel>>,
    outbox: Outbox,
}

#[derive(Debug, thiserror::Error)]
#[error("channel {channel}: {source}")]
pub struct ChannelSetupError {
    pub channel: ChannelKind,
    #[source]
    pub source: ConfigError,
}

impl ChannelSet {
    pub fn from_config(
        cfg: &ChannelsConfig,
        outbox_capacity: usize,
    ) -> Result<Self, ChannelSetupError> {
        let outbox = Outbox::new(outbox_capacity);
        let simulated =
            |kind| -> Arc<dyn Channel> { Arc::new(SimulatedChannel::new(kind, outbox.clone())) };
        let wrap = |channel: ChannelKind| move |source| ChannelSetupError { channel, source };
        let mut channels: HashMap<ChannelKind, Arc<dyn Channel>> = HashMap::new();

        let fcm: Arc<dyn Channel> = match &cfg.fcm {
            Some(FcmSection::Fcm(c)) => {
                Arc::new(FcmChannel::new(c).map_err(wrap(ChannelKind::Fcm))?)
            }
            _ => simulated(ChannelKind::Fcm),
        };
        let apns: Arc<dyn Channel> = match &cfg.apns {
            Some(ApnsSection::Apns(c)) => {
                Arc::new(ApnsChannel::new(c).map_err(wrap(ChannelKind::Apns))?)
            }
            _ => simulated(ChannelKind::Apns),
        };
        let sms: Arc<dyn Channel> = match &cfg.sms {
            Some(SmsSection::Twilio(c)) => {
                Arc::new(TwilioSms::new(c).map_err(wrap(ChannelKind::Sms))?)
            }
            _ => simulated(ChannelKind::Sms),
        };
        let email: Arc<dyn Channel> = match &cfg.email {
            Some(EmailSection::Smtp(c)) => {
                Arc::new(SmtpChannel::new(c).map_err(wrap(ChannelKind::Email))?)
            }
            _ => simulated(ChannelKind::Email),
        };
        let voice: Arc<dyn Channel> = match &cfg.voice {
            Some(VoiceSection::Twilio(c)) => {
                Arc::new(TwilioVoice::new(c).map_err(wrap(ChannelKind::Voice))?)
            }
            _ => simulated(ChannelKind::Voice),
        };
        for channel in [fcm, apns, sms, email, voice] {
            channels.insert(channel.kind(), channel);
        }
        Ok(Self { channels, outbox })
    }

    pub fn get(&self, kind: ChannelKind) -> &Arc<dyn Channel> {
        &self.channels[&kind]
    }

    /// Channels running on the simulated provider, in a stable order.
    pub fn simulated(&self) -> Vec<ChannelKind> {
        ChannelKind::ALL
            .into_iter()
            .filter(|k| self.channels[k].simulated())
            .collect()
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}
