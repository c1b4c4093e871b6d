//! Message builders shared by the provider tests.

use std::collections::BTreeMap;

use tocsin_channels::{Address, ChannelKind, Content, OutboundMessage};

pub fn message(kind: ChannelKind, raw_address: &str, content: Content) -> OutboundMessage {
    OutboundMessage {
        delivery_id: 1,
        notice_id: 10,
        idempotency_key: "delivery-1".into(),
        address: Address::parse(kind, raw_address).expect("test address"),
        content,
        urgent: true,
        expires_at: None,
        collapse_id: None,
        status_callback: None,
        unsubscribe_url: None,
    }
}

pub fn push() -> Content {
    Content::Push {
        title: "Відключення води".into(),
        body: "Вул. Шевченка, 10:00–14:00".into(),
        data: BTreeMap::from([("notice_id".into(), "10".into())]),
    }
}

/// A loopback URL nothing listens on, for connection-failure tests.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
