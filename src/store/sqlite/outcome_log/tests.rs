//! The outcome log's promises: what a crash leaves is applied at the next
//! start, once; a torn last line loses only itself; a second process on
//! the same database writes directly; segments go once folded.

use sqlx::ConnectOptions;
use std::path::{Path, PathBuf};

use super::*;
use crate::domain::DeliveryState::*;
use crate::domain::ResidentId;
use crate::store::sqlite::SqliteStore;
use crate::store::tests::{event_deliveries, lease, notice, numbered, outcome};
use crate::store::{ClaimedDelivery, Store};

/// A store at `path` with three residents (SMS) and one notice, its
/// deliveries claimed once.
async fn claimed(path: &Path) -> (SqliteStore, Vec<ClaimedDelivery>) {
    let (s, claimed, _) = claimed_for(path).await;
    (s, claimed)
}

async fn claimed_for(path: &Path) -> (SqliteStore, Vec<ClaimedDelivery>, Vec<ResidentId>) {
    let s = SqliteStore::open(path).await.unwrap();
    let ids = s
        .insert_residents(&[numbered(1), numbered(2), numbered(3)])
        .await
        .unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let claimed = s
        .claim(&event_deliveries(&s, &e).await, lease())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    (s, claimed, ids)
}

fn sent(d: &ClaimedDelivery) -> Outcome {
    outcome(
        d,
        OutcomeKind::Sent {
            provider_id: Some(format!("SM{}", d.id.0)),
        },
    )
}

/// A database with claimed deliveries whose store is gone, and its log as
/// the crashed process held it: taken, nothing folded.
struct Crashed {
    _dir: tempfile::TempDir,
    path: PathBuf,
    claimed: Vec<ClaimedDelivery>,
    residents: Vec<ResidentId>,
    log: OutcomeLog,
}

async fn crashed() -> Crashed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    let (s, claimed, residents) = claimed_for(&path).await;
    drop(s);
    let left = OutcomeLog::claim(&path).unwrap().expect("nobody holds it");
    Crashed {
        _dir: dir,
        log: OutcomeLog::start(left, 0).unwrap(),
        path,
        claimed,
        residents,
    }
}

fn segment_files(path: &Path) -> Vec<PathBuf> {
    let prefix = with_suffix(path, "-outcomes.");
    segments(&prefix)
        .unwrap()
        .into_iter()
        .map(|n| segment_path(&prefix, n))
        .collect()
}

#[tokio::test]
async fn outcomes_logged_before_a_crash_are_applied_at_the_next_start() {
    let Crashed {
        _dir,
        path,
        claimed,
        residents,
        log,
    } = crashed().await;
    let invalid = outcome(
        &claimed[1],
        OutcomeKind::InvalidAddress {
            reason: "21211".into(),
        },
    );
    log.append(&[sent(&claimed[0]), invalid]).unwrap();
    drop(log);

    let s = SqliteStore::open(&path).await.unwrap();
    let first = s.get_delivery(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(first.state, Sent);
    assert_eq!(first.provider_id, Some(format!("SM{}", claimed[0].id.0)));
    let second = s.get_delivery(claimed[1].id).await.unwrap().unwrap();
    assert_eq!(
        (second.state, second.error.as_deref()),
        (Failed, Some("21211"))
    );
    let third = s.get_delivery(claimed[2].id).await.unwrap().unwrap();
    assert_eq!(third.state, Sending, "nothing was logged for it");
    let (_, again) = s.create_notice(&notice(), &residents).await.unwrap();
    assert_eq!(
        again.deliveries, 2,
        "the invalid number's contact is retired"
    );
    assert_eq!(
        segment_files(&path).len(),
        1,
        "only the fresh segment is left"
    );
}

#[tokio::test]
async fn a_torn_last_line_loses_only_itself() {
    let Crashed {
        _dir,
        path,
        claimed,
        log,
        ..
    } = crashed().await;
    log.append(&[sent(&claimed[0]), sent(&claimed[1])]).unwrap();
    drop(log);
    let files = segment_files(&path);
    let mut file = OpenOptions::new().append(true).open(&files[0]).unwrap();
    // Cut inside a two-byte character.
    let torn = format!("[3,{},\"failed\",null,\"Номер", claimed[2].id.0);
    file.write_all(&torn.as_bytes()[..torn.len() - 1]).unwrap();
    drop(file);

    let s = SqliteStore::open(&path).await.unwrap();
    for (d, state) in claimed.iter().zip([Sent, Sent, Sending]) {
        assert_eq!(s.get_delivery(d.id).await.unwrap().unwrap().state, state);
    }
}

#[tokio::test]
async fn a_folded_line_is_not_applied_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    let (s, claimed) = claimed(&path).await;
    let d = &claimed[0];
    s.record_outcomes(&[outcome(d, OutcomeKind::Yielded)])
        .await
        .unwrap();
    // Claimed again: the yielded attempt was given back, so this is the
    // first that counts. The yield's line is folded and still in the file.
    let again = s.claim(&[d.id], lease()).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    drop(s);
    assert!(!segment_files(&path).is_empty());

    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        s.get_delivery(d.id).await.unwrap().unwrap().state,
        Sending,
        "the old yield did not move the second attempt back to queued"
    );
    // As the embedded service does at its start.
    s.forget_leases().await.unwrap();
    let third = s.claim(&[d.id], lease()).await.unwrap();
    assert_eq!(third[0].attempts, 2, "the yield was refunded once");
}

/// A fold cancelled after its commit leaves its lines pending, and the
/// next fold sends them again: the database must skip them.
#[tokio::test]
async fn a_fold_sent_twice_applies_once() {
    let Crashed {
        _dir,
        path,
        claimed,
        log,
        ..
    } = crashed().await;
    log.append(&[outcome(&claimed[0], OutcomeKind::Yielded)])
        .unwrap();
    let batch = log.batch().unwrap();
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    batch.apply(&mut conn).await.unwrap();
    let reclaim = "UPDATE deliveries SET state = 'sending' WHERE id = ?";
    sqlx::query(reclaim)
        .bind(claimed[0].id.0)
        .execute(&mut conn)
        .await
        .unwrap();
    batch.apply(&mut conn).await.unwrap();
    let (state, yields): (String, i64) =
        sqlx::query_as("SELECT state, yields FROM deliveries WHERE id = ?")
            .bind(claimed[0].id.0)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((state.as_str(), yields), ("sending", 1));
}

#[tokio::test]
async fn a_second_process_on_the_database_writes_outcomes_directly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite3");
    let (owner, claimed) = claimed(&path).await;
    let other = SqliteStore::open(&path).await.unwrap();
    other.record_outcomes(&[sent(&claimed[0])]).await.unwrap();
    let seen = owner.get_delivery(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(seen.state, Sent);
    owner.record_outcomes(&[sent(&claimed[1])]).await.unwrap();
    owner.flush().await.unwrap();
    let seen = other.get_delivery(claimed[1].id).await.unwrap().unwrap();
    assert_eq!(seen.state, Sent);
}

#[tokio::test]
async fn a_segment_is_removed_once_everything_in_it_is_folded() {
    let Crashed {
        _dir,
        path,
        claimed,
        mut log,
        ..
    } = crashed().await;
    log.segment_bytes = 1;
    let first = log.inner().segment;
    log.append(&[sent(&claimed[0])]).unwrap();
    log.folded(0);
    // Full, so the next line goes to a new segment; the first still
    // holds an unfolded line.
    assert_eq!(segment_files(&path).len(), 2);
    log.append(&[sent(&claimed[1])]).unwrap();
    let second_line = log.inner().next_seq - 1;
    log.folded(second_line - 1);
    let left = segment_files(&path);
    assert_eq!(left.len(), 2, "the first is gone, a third started");
    assert!(!left.contains(&segment_path(&log.prefix, first)));
    assert_eq!(log.inner().pending.len(), 1);
}

#[test]
fn a_delivery_appears_once_per_statement() {
    let row = |seq, delivery| Logged {
        seq,
        delivery,
        line: format!("[{seq},{delivery}]"),
        retires: seq == 3,
    };
    let batch = Batch::of(&[row(1, 10), row(2, 11), row(3, 10), row(4, 12)]).unwrap();
    assert_eq!(batch.chunks, ["[[1,10],[2,11]]", "[[3,10],[4,12]]"]);
    assert_eq!(batch.retires.as_deref(), Some("[[3,10]]"));
    assert_eq!(batch.last(), 4);
    assert!(Batch::of(&[]).is_none());
}

#[test]
fn only_well_formed_lines_are_read() {
    assert!(parse_line("[1,2,\"sent\",\"x\",null,5,0,null]").is_some());
    assert!(
        parse_line("[1,2,\"sent\",\"x\",null,5,0,7]")
            .unwrap()
            .retires
    );
    assert!(parse_line("[1,2,\"nonsense\",null,null,5,0,null]").is_none());
    assert!(parse_line("[1,2,\"sent\",null,null,5,9,null]").is_none());
    assert!(parse_line("[1,2,\"sent\"").is_none());
}
