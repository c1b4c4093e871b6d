//! What only the PostgreSQL backend has: claims that really overlap,
//! several processes on one database, backend selection, and a script run
//! on both backends whose results must be identical.

use serde_json::{Value, json};
use std::time::Duration;
use tocsin_zones::Region;

use super::*;
use crate::store::postgres::claim_on;
use crate::store::sql::ms;

/// A claim that waits on the row locks of a running claim gets nothing
/// once that claim commits; a claim that starts afterwards (a re-delivered
/// job) takes nothing while that claim's lease holds, and everything, as
/// attempt 2, once its owner is known to be gone.
#[tokio::test]
async fn a_claim_waiting_on_a_running_claim_skips_its_deliveries() {
    let Some((db, s)) = pg_store().await else {
        return;
    };
    let residents: Vec<NewResident> = (0..20).map(numbered).collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let deliveries = event_deliveries(&s, &e).await;
    s.mark_queued(&deliveries).await.unwrap();

    let raw: Vec<i64> = deliveries.iter().map(|d| d.0).collect();
    let mut running = s.pool().begin().await.unwrap();
    let first = claim_on(&mut running, &raw, lease(), ms(Utc::now()))
        .await
        .unwrap();
    assert_eq!(first.len(), 20);

    let (other, ids2) = (s.clone(), deliveries.clone());
    let waiting = tokio::spawn(async move { other.claim(&ids2, lease()).await });
    // Until the second claim is blocked on the first one's row locks.
    let mut blocked = false;
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        if n > 0 {
            blocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(blocked, "the second claim never waited on the first");
    running.commit().await.unwrap();
    let second = waiting.await.unwrap().unwrap();
    assert!(second.is_empty(), "{second:?}");

    // While the first claim's lease holds, a re-delivered job takes
    // nothing; once its worker is known to be gone, it takes them all.
    assert!(s.claim(&deliveries, lease()).await.unwrap().is_empty());
    s.forget_leases().await.unwrap();
    let redelivered = s.claim(&deliveries, lease()).await.unwrap();
    assert_eq!(redelivered.len(), 20);
    assert!(redelivered.iter().all(|c| c.attempts == 2));
    pg_done(db, s).await;
}

/// Processes starting together: each migrates (sqlx's advisory lock makes
/// them take turns), and all see one secret.
/// A bulk import leaves fresh planner statistics behind: without them a
/// notice to a few hundred residents was planned as hash joins over every
/// resident (docs/BENCHMARKS.md, emergency latency). `last_analyze` is
/// only set by an explicit ANALYZE, never by autovacuum.
#[tokio::test]
async fn a_bulk_import_analyses_the_resident_tables() {
    let Some((_db, s)) = pg_store().await else {
        return;
    };
    let analysed = || async {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_stat_user_tables
             WHERE last_analyze IS NOT NULL AND relname IN ('residents', 'contacts')
             ORDER BY relname",
        )
        .fetch_all(s.pool())
        .await
        .unwrap();
        tables
    };
    let few: Vec<NewResident> = (0..20).map(numbered).collect();
    s.insert_residents(&few).await.unwrap();
    assert!(
        analysed().await.is_empty(),
        "a small insert is not worth it"
    );
    let many: Vec<NewResident> = (20..10_020).map(numbered).collect();
    s.insert_residents(&many).await.unwrap();
    assert_eq!(analysed().await, ["contacts", "residents"]);
}

#[tokio::test]
async fn processes_migrate_together_and_share_secrets() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let url = db.url();
    let stores: Vec<PgStore> = join_all((0..3).map(|_| PgStore::connect(&url, 2, true)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    PgStore::migrate(&url).await.unwrap();
    let secrets = join_all(stores.iter().map(|s| s.secret("ack-key"))).await;
    let first = secrets[0].as_ref().unwrap();
    assert!(secrets.iter().all(|v| v.as_ref().unwrap() == first));
    for s in stores {
        s.pool().close().await;
    }
    db.drop_database().await;
}

#[tokio::test]
async fn open_picks_the_backend_from_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    open(None, &path, 4, false, None)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
    let err = open(Some("mysql://u:secret@h/db"), &path, 4, true, None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Config(_)));
    assert!(message.contains("\"mysql\"") && message.contains("postgres://"));
    assert!(!message.contains("secret"), "{message}");
    // Nothing listens on port 1: the error comes at once, not a hang.
    assert!(
        PgStore::connect("postgres://postgres@127.0.0.1:1/x", 1, false)
            .await
            .is_err()
    );

    let Some(db) = TempDatabase::create().await else {
        return;
    };
    for url in [
        db.url(),
        db.url().replacen("postgres://", "postgresql://", 1),
    ] {
        let store = open(Some(&url), &path, 2, true, None).await.unwrap();
        store.ping().await.unwrap();
        assert!(!store.has_admin().await.unwrap());
    }
    db.drop_database().await;
}

/// One script of operations on both backends; every result, minus the
/// wall-clock times, must be identical (ids included: both start at 1).
#[tokio::test]
async fn both_backends_give_identical_results() {
    let Some((db, pg)) = pg_store().await else {
        return;
    };
    let (_dir, lite) = sqlite_store().await;
    let a = script(&lite).await;
    let b = script(&pg).await;
    assert_eq!(a.len(), b.len());
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(a, b, "step {i} differs (left SQLite, right PostgreSQL)");
    }
    pg_done(db, pg).await;
}

fn square(lon: f64, lat: f64) -> Region {
    let ring = json!([
        [lon, lat],
        [lon + 0.01, lat],
        [lon + 0.01, lat + 0.01],
        [lon, lat + 0.01],
        [lon, lat]
    ]);
    Region::from_geojson(
        &json!({"type": "Polygon", "coordinates": [ring]}),
        &Limits::default(),
    )
    .unwrap()
}

/// Times become whether they are set; everything else is kept.
fn scrub(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                *value = if key.ends_with("_at") {
                    Value::Bool(!value.is_null())
                } else {
                    scrub(value.take())
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| *i = scrub(i.take())),
        _ => {}
    }
    v
}

fn ser<T: serde::Serialize>(v: &T) -> Value {
    scrub(serde_json::to_value(v).unwrap())
}

fn notice_json(n: &Notice) -> Value {
    json!({
        "id": n.id, "organisation": n.organisation, "kind": n.kind.as_str(),
        "category": n.category.as_str(), "title": n.title, "cause": n.cause,
        "expected_end": n.expected_end, "status": n.status, "area": n.area,
        "zones": n.zones, "recipients": n.recipients, "closed": n.closed_at.is_some(),
    })
}

fn resident_json(r: &Resident) -> Value {
    json!({
        "id": r.id, "language": r.language, "location": r.location.map(|p| (p.lat(), p.lon())),
        "zones": r.zones, "categories": r.categories.mask(), "contacts": ser(&r.contacts),
    })
}

async fn script(s: &dyn Store) -> Vec<Value> {
    let mut out = Vec::new();
    let zones = s
        .insert_zones(&[
            NewZone {
                name: "Центр".into(),
                region: square(25.32, 50.74),
                properties: json!({"code": 7, "ratio": 0.1})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            NewZone {
                name: "Північ".into(),
                region: square(25.33, 50.76),
                properties: Default::default(),
            },
        ])
        .await
        .unwrap();
    let residents: Vec<NewResident> = (0..30)
        .map(|i| {
            let mut r = numbered(i);
            if i % 2 == 0 {
                r.contacts.push(
                    Address::parse(ChannelKind::Email, &format!("r{i}@example.com")).unwrap(),
                );
            }
            if i % 5 == 0 {
                r.categories = CategorySet::from_categories(&[Category::Power]);
            }
            if i % 4 == 0 {
                r.zones = vec![zones[i % 8 / 4]];
            }
            if i == 3 {
                r.location = None;
                r.language = Language::parse("pl-PL").unwrap();
            }
            r
        })
        .collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let org = s
        .create_organisation(
            &NewOrganisation {
                name: Text::parse("Водоканал").unwrap(),
                territory: Some(square(25.3, 50.7)),
            },
            &TokenHash::of("org"),
        )
        .await
        .unwrap();
    out.push(json!([
        ids,
        zones,
        org.id,
        org.territory.region().map(|t| t.to_geojson())
    ]));
    let mut in_zone = s.residents_in_zones(&zones).await.unwrap();
    in_zone.sort_unstable();
    let mut located = s.resident_locations().await.unwrap();
    located.sort_by_key(|(id, _)| *id);
    let located: Vec<_> = located
        .iter()
        .map(|(id, p)| (id.0, p.lat(), p.lon()))
        .collect();
    let mut existing: Vec<_> = s
        .existing_zones(&[zones[1], ZoneId(99)])
        .await
        .unwrap()
        .into_iter()
        .collect();
    existing.sort_unstable();
    out.push(json!([in_zone, located, existing]));

    let mut first = notice();
    first.organisation = Some(org.id);
    first.zones = zones.clone();
    first.cause = Some(Text::parse("Аварія").unwrap());
    let (n1, e1) = s.create_notice(&first, &ids).await.unwrap();
    out.push(json!([notice_json(&n1), ser(&e1)]));

    // Queue pages, a partial claim, mixed outcomes and reports.
    let mut pages = Vec::new();
    let mut after = DeliveryId(0);
    loop {
        let page = s
            .deliveries_to_queue(ToQueue::Event(e1.id), after, 7)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        pages.push(format!("{page:?}"));
    }
    out.push(json!(pages));
    let all = event_deliveries(s, &e1).await;
    s.mark_queued(&all[..20]).await.unwrap();
    let mut claimed = s.claim(&all[5..25], lease()).await.unwrap();
    // Written "now" by each backend: compare everything else.
    for c in &mut claimed {
        c.created_at = chrono::DateTime::UNIX_EPOCH;
    }
    out.push(json!(format!("{claimed:?}")));
    let kinds = [
        OutcomeKind::Sent {
            provider_id: Some("SM1".into()),
        },
        OutcomeKind::Delivered { provider_id: None },
        OutcomeKind::Retry {
            reason: "503".into(),
        },
        OutcomeKind::Failed {
            reason: "rejected".into(),
        },
        OutcomeKind::InvalidAddress {
            reason: "21211".into(),
        },
    ];
    let outcomes: Vec<Outcome> = claimed
        .iter()
        .zip(kinds.iter().cycle())
        .map(|(c, k)| outcome(c, k.clone()))
        .collect();
    s.record_outcomes(&outcomes).await.unwrap();
    let mut reports = Vec::new();
    for (i, c) in claimed.iter().enumerate().take(10) {
        let state = [
            DeliveryState::Delivered,
            DeliveryState::Acknowledged,
            DeliveryState::Sent,
        ][i % 3];
        reports.push(format!(
            "{:?}",
            s.report(c.id, state, Some("receipt"), i == 4)
                .await
                .unwrap()
        ));
    }
    out.push(json!(reports));
    out.push(ser(&s.get_delivery(claimed[0].id).await.unwrap()));

    // Events, the closed notice, a second notice, a deleted resident.
    let (_, e2) = s
        .add_event(n1.id, &update(EventKind::Updated))
        .await
        .unwrap();
    s.delete_resident(ids[1]).await.unwrap();
    let (n1, e3) = s
        .add_event(n1.id, &update(EventKind::Closed))
        .await
        .unwrap();
    let refused = s
        .add_event(n1.id, &update(EventKind::Updated))
        .await
        .unwrap_err();
    out.push(json!([
        ser(&e2),
        ser(&e3),
        notice_json(&n1),
        refused.to_string()
    ]));
    let mut power = notice();
    power.category = Category::Power;
    power.kind = NoticeKind::Emergency;
    let (n2, _) = s.create_notice(&power, &ids[..12]).await.unwrap();

    for n in [n1.id, n2.id] {
        out.push(ser(&s.delivery_summary(n).await.unwrap()));
        out.push(ser(&s.notice_events(n).await.unwrap()));
        for (state, channel) in [
            (None, None),
            (Some(DeliveryState::Sent), None),
            (None, Some(ChannelKind::Email)),
            (Some(DeliveryState::Pending), Some(ChannelKind::Sms)),
        ] {
            let mut filter = DeliveryFilter {
                state,
                channel,
                after: None,
                limit: 9,
            };
            loop {
                let page = s.list_deliveries(n, &filter).await.unwrap();
                let Some(last) = page.last() else { break };
                filter.after = Some(last.id);
                out.push(ser(&page));
            }
        }
    }
    let mut before = None;
    loop {
        let page = s.list_notices(None, before, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        out.push(json!(page.iter().map(notice_json).collect::<Vec<_>>()));
    }
    let own = s.list_notices(Some(org.id), None, 10).await.unwrap();
    out.push(json!(own.iter().map(notice_json).collect::<Vec<_>>()));
    let context = s.event_context(e2.id).await.unwrap().unwrap();
    out.push(json!([notice_json(&context.0), ser(&context.1)]));
    for scope in [ToQueue::AllPending, ToQueue::AllUnfinished] {
        let page = s
            .deliveries_to_queue(scope, DeliveryId(3), 1000)
            .await
            .unwrap();
        out.push(json!(format!("{page:?}")));
    }
    for id in [ids[0], ids[1], ids[3], ids[4]] {
        out.push(json!(
            s.get_resident(id)
                .await
                .unwrap()
                .as_ref()
                .map(resident_json)
        ));
    }
    let zones_now = s.list_zones().await.unwrap();
    out.push(json!(
        zones_now
            .zones
            .iter()
            .map(|z| json!([z.id, z.name, z.region.to_geojson(), z.properties]))
            .collect::<Vec<_>>()
    ));
    assert!(s.delete_zone(zones[0]).await.unwrap());
    out.push(json!([
        s.get_zone(zones[0]).await.unwrap().is_none(),
        s.get_resident(ids[0]).await.unwrap().map(|r| r.zones)
    ]));
    out
}

/// Not a test: the figures behind the index choices in the migration.
/// `cargo test --release -p tocsin --lib store::tests::postgres::measure_fan_out
/// -- --ignored --nocapture` (`TOCSIN_MEASURE_N` residents, default 1 M).
/// Statements over half a second also go to the server log with their
/// duration, for a per-statement breakdown.
#[tokio::test]
#[ignore = "measurement; prints timings and plans, asserts nothing about them"]
async fn measure_fan_out() {
    use std::time::Instant;
    let n: usize = std::env::var("TOCSIN_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let admin = PgStore::connect(&db.url(), 1, false).await.unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE {} SET log_min_duration_statement = 500",
        db.name()
    ))
    .execute(admin.pool())
    .await
    .unwrap();
    admin.pool().close().await;
    let s = PgStore::connect(&db.url(), 4, true).await.unwrap();

    let residents: Vec<NewResident> = (0..n).map(numbered).collect();
    let t = Instant::now();
    let ids = s.insert_residents(&residents).await.unwrap();
    eprintln!("insert_residents({n}): {:?}", t.elapsed());
    let t = Instant::now();
    let (notice, event) = s.create_notice(&notice(), &ids).await.unwrap();
    let fan_out = t.elapsed();
    eprintln!(
        "create_notice ({} deliveries): {fan_out:?}",
        event.deliveries
    );
    let t = Instant::now();
    let counts = s.count_audience(Category::Water, &ids).await.unwrap();
    eprintln!(
        "count_audience ({} residents, the preview): {:?}",
        counts.residents,
        t.elapsed()
    );

    let explain = |sql: String| {
        let pool = s.pool().clone();
        async move {
            let plan: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            eprintln!("{}\n", plan.join("\n"));
        }
    };
    let summary_sql = format!(
        "SELECT e.seq, g.channel, g.state, g.n
         FROM (SELECT event_id, channel, state, COUNT(*) AS n FROM deliveries
               WHERE notice_id = {} GROUP BY event_id, channel, state) g
         JOIN notice_events e ON e.id = g.event_id",
        notice.id
    );
    for label in ["before VACUUM", "after VACUUM"] {
        if label == "after VACUUM" {
            sqlx::query("VACUUM ANALYZE deliveries")
                .execute(s.pool())
                .await
                .unwrap();
        }
        for round in 0..3 {
            let t = Instant::now();
            s.delivery_summary(notice.id).await.unwrap();
            eprintln!("delivery_summary #{round} {label}: {:?}", t.elapsed());
        }
        eprintln!("--- summary plan, {label}");
        explain(summary_sql.clone()).await;
    }

    let half = n as i64 / 2;
    let t = Instant::now();
    let page = s
        .deliveries_to_queue(ToQueue::Event(event.id), DeliveryId(half), 1000)
        .await
        .unwrap();
    eprintln!(
        "deliveries_to_queue page of {}: {:?}",
        page.len(),
        t.elapsed()
    );
    let filter = DeliveryFilter {
        after: Some(DeliveryId(half)),
        limit: 100,
        ..Default::default()
    };
    let t = Instant::now();
    s.list_deliveries(notice.id, &filter).await.unwrap();
    eprintln!("list_deliveries page of 100: {:?}", t.elapsed());
    for sql in [
        format!(
            "SELECT id, channel, lane FROM deliveries WHERE state = 'pending' \
             AND event_id = {} AND id > {half} ORDER BY id LIMIT 1000",
            event.id
        ),
        format!(
            "SELECT id, channel, lane FROM deliveries WHERE state IN ('pending','queued','sending') \
             AND id > {half} ORDER BY id LIMIT 1000"
        ),
        format!(
            "SELECT id FROM deliveries WHERE notice_id = {} AND id > {half} ORDER BY id LIMIT 100",
            notice.id
        ),
    ] {
        explain(sql).await;
    }
    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_class c
         JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'public'
         WHERE c.relname LIKE 'deliveries%' AND c.relkind IN ('r', 'i') ORDER BY 1",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    for (name, bytes) in sizes {
        eprintln!("{name}: {:.1} MB", bytes as f64 / 1e6);
    }
    s.pool().close().await;
    db.drop_database().await;
}
