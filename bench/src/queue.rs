//! RabbitMQ's own limit through lapin alone: publish persistent messages
//! with publisher confirms (pipelined in windows, as Tocsin publishes a
//! batch of jobs and then waits for their confirms), then consume them
//! with a bounded prefetch and one ack each, as a Tocsin worker does. The
//! queue is declared with a unique name and deleted afterwards.

use std::time::Instant;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[derive(Debug, Clone, Copy)]
pub struct QueuePlan {
    pub messages: usize,
    pub bytes: usize,
    /// Publishes in flight before waiting for their confirms.
    pub window: usize,
    pub prefetch: u16,
    pub quorum: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct QueueRun {
    pub publish_per_s: f64,
    pub consume_per_s: f64,
}

pub async fn run(url: &str, plan: QueuePlan) -> anyhow::Result<QueueRun> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix)?;
    let name: String = suffix
        .iter()
        .fold("tocsin-bench-q-".to_owned(), |s, b| s + &format!("{b:02x}"));
    let mut args = FieldTable::default();
    if plan.quorum {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(name.as_str().into(), durable, args)
        .await?;
    let result = measure(&conn, &name, plan).await;
    channel
        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = conn.close(200, "done".into()).await;
    result
}

async fn measure(conn: &Connection, queue: &str, plan: QueuePlan) -> anyhow::Result<QueueRun> {
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let payload = vec![b'7'; plan.bytes];
    let props = BasicProperties::default().with_delivery_mode(2);
    let start = Instant::now();
    let mut sent = 0;
    while sent < plan.messages {
        let n = plan.window.min(plan.messages - sent);
        let mut confirms = Vec::with_capacity(n);
        for _ in 0..n {
            let confirm = publisher
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    &payload,
                    props.clone(),
                )
                .await?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            anyhow::ensure!(!confirm.await?.is_nack(), "the broker refused a message");
        }
        sent += n;
    }
    let publish_per_s = plan.messages as f64 / start.elapsed().as_secs_f64();

    let consumer = conn.create_channel().await?;
    consumer
        .basic_qos(plan.prefetch, BasicQosOptions::default())
        .await?;
    let mut deliveries = consumer
        .basic_consume(
            queue.into(),
            "tocsin-bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let start = Instant::now();
    for _ in 0..plan.messages {
        let delivery = deliveries
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("the consumer stopped"))??;
        delivery.ack(BasicAckOptions::default()).await?;
    }
    let consume_per_s = plan.messages as f64 / start.elapsed().as_secs_f64();
    consumer
        .basic_cancel("tocsin-bench".into(), BasicCancelOptions::default())
        .await?;
    drop(deliveries);
    consumer.close(200, "done".into()).await?;
    publisher.close(200, "done".into()).await?;
    Ok(QueueRun {
        publish_per_s,
        consume_per_s,
    })
}
