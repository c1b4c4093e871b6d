//! The simulated channel and its outbox.

use tocsin_channels::{Channel, ChannelKind, Content, Outbox, SendError, SimulatedChannel};

use crate::common::{message, push};

fn sms(body: &str) -> Content {
    Content::Sms { body: body.into() }
}

#[tokio::test]
async fn records_every_message_as_delivered() {
    let outbox = Outbox::new(10);
    let channel = SimulatedChannel::new(ChannelKind::Sms, outbox.clone());
    assert!(channel.simulated());
    assert_eq!(channel.provider(), "simulated");
    let receipt = channel
        .send(&message(ChannelKind::Sms, "+380501234567", sms("hi")))
        .await
        .unwrap();
    assert!(receipt.delivered);
    assert_eq!(receipt.provider_id.as_deref(), Some("sim-1"));
    let entry = &outbox.entries(None, None, 10)[0];
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.channel, ChannelKind::Sms);
    assert_eq!(entry.address, "+380501234567");
    assert!(entry.simulated);
    assert_eq!(entry.content, sms("hi"));
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["content"]["type"], "sms");
    assert_eq!(json["channel"], "sms");
}

#[tokio::test]
async fn magic_addresses_fail_like_real_providers() {
    let outbox = Outbox::new(10);
    let cases = [
        (ChannelKind::Sms, "+15005550001", sms("x")),
        (ChannelKind::Voice, "+15005550001", sms("x")),
        (ChannelKind::Email, "anyone@bounce.invalid", sms("x")),
        (ChannelKind::Fcm, "unregistered-token", push()),
        (ChannelKind::Apns, &"0".repeat(64), push()),
    ];
    for (kind, address, content) in cases {
        let channel = SimulatedChannel::new(kind, outbox.clone());
        let err = channel
            .send(&message(kind, address, content))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::InvalidAddress { .. }),
            "{kind}: {err:?}"
        );
    }
    assert!(outbox.is_empty());
}

#[tokio::test]
async fn filters_limits_and_capacity() {
    let outbox = Outbox::new(3);
    let sms_channel = SimulatedChannel::new(ChannelKind::Sms, outbox.clone());
    let push_channel = SimulatedChannel::new(ChannelKind::Fcm, outbox.clone());
    for notice in 1..=2 {
        let mut msg = message(ChannelKind::Sms, "+380501234567", sms("x"));
        msg.notice_id = notice;
        sms_channel.send(&msg).await.unwrap();
    }
    let mut msg = message(ChannelKind::Fcm, "token-1", push());
    msg.notice_id = 2;
    push_channel.send(&msg).await.unwrap();

    assert_eq!(outbox.len(), 3);
    let seqs = |entries: Vec<tocsin_channels::OutboxEntry>| {
        entries.iter().map(|e| e.seq).collect::<Vec<_>>()
    };
    assert_eq!(seqs(outbox.entries(None, None, 10)), [1, 2, 3]);
    assert_eq!(
        seqs(outbox.entries(Some(ChannelKind::Sms), None, 10)),
        [1, 2]
    );
    assert_eq!(seqs(outbox.entries(None, Some(2), 10)), [2, 3]);
    assert_eq!(seqs(outbox.entries(None, None, 2)), [2, 3]);

    sms_channel
        .send(&message(ChannelKind::Sms, "+380501234567", sms("x")))
        .await
        .unwrap();
    assert_eq!(outbox.len(), 3);
    assert_eq!(seqs(outbox.entries(None, None, 10)), [2, 3, 4]);
}

#[tokio::test]
async fn address_of_another_kind_is_permanent() {
    let channel = SimulatedChannel::new(ChannelKind::Email, Outbox::new(1));
    let err = channel
        .send(&message(ChannelKind::Sms, "+380501234567", sms("x")))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Permanent { .. }));
}
