//! The alert statements both backends run as they are: SQLite reads
//! `$N` placeholders by number, as PostgreSQL does.

use crate::domain::auth::PrincipalKind;

/// The columns `alert_from_row` of both backends reads, in its order.
pub(crate) const ALERT_COLUMNS: &str = "id, identifier, sender, sent, status, msg_type, scope, \
     headline, urgent, expires, cap, state, references_id, notice_id, event_id, audience_id, \
     widened, template, created_by, creator, approver, approved_at, ended_at, ended_by, \
     superseded_by, created_at, creator_username, approved_by, approver_username";

/// Who created and approved an alert, as its view names them: from
/// `created_by`, `creator_username`, `approved_by`, `approver_username`.
pub(crate) fn alert_people(
    creator_token: i64,
    creator_username: Option<String>,
    approver_token: Option<i64>,
    approver_username: Option<String>,
) -> (
    PrincipalKind,
    Option<String>,
    Option<PrincipalKind>,
    Option<String>,
) {
    let created = PrincipalKind::recorded(creator_token, creator_username.as_deref());
    let approved = approver_token.map(|t| PrincipalKind::recorded(t, approver_username.as_deref()));
    (created, creator_username, approved, approver_username)
}

/// Marks a pending alert sent by `$1` (principal id), `$2` (name) at
/// `$3`, for alert `$4`. The rule is in the statement itself, so racing
/// approvals cannot both pass: still pending and not past its `expires`,
/// not the creator, and `$1` is a console account whose password its
/// owner set (a person, never a bearer token).
pub(crate) const APPROVE_ALERT: &str = "
    UPDATE alerts SET state = 'sent', approved_by = $1, approver = $2, approved_at = $3,
        approver_username = (SELECT username FROM accounts WHERE principal_id = $1)
    WHERE id = $4 AND state = 'pending' AND created_by <> $1
      AND (expires IS NULL OR expires > $3)
      AND EXISTS (SELECT 1 FROM accounts WHERE principal_id = $1
                  AND enrolled_at IS NOT NULL AND password_hash <> '')";

/// Sending an Update or Cancel changes the alerts it follows on the same
/// notice (the chain): an Update supersedes the one in effect, a Cancel
/// (all-clear or correction) ends them all. `$1` now, `$2` the new
/// alert, `$3` the notice. Pending alerts of the chain stay pending: their
/// approval finds the chain ended and refuses.
pub(crate) fn chain_transition(ends: bool) -> &'static str {
    if ends {
        "UPDATE alerts SET state = 'ended', ended_at = $1, ended_by = $2
         WHERE notice_id = $3 AND id <> $2 AND state IN ('sent', 'superseded')"
    } else {
        "UPDATE alerts SET state = 'superseded', ended_at = $1, superseded_by = $2
         WHERE notice_id = $3 AND id <> $2 AND state = 'sent'"
    }
}

/// Pending alerts nobody approved before their `expires` (`$1` now).
pub(crate) fn expire_pending_sql() -> String {
    format!(
        "UPDATE alerts SET state = 'expired', ended_at = $1
         WHERE state = 'pending' AND expires IS NOT NULL AND expires <= $1
         RETURNING {ALERT_COLUMNS}"
    )
}

/// The first alert that sent the notice (`$1`).
pub(crate) const ALERT_OF_NOTICE: &str =
    "SELECT id FROM alerts WHERE notice_id = $1 ORDER BY id LIMIT 1";

/// How long a sent Cancel stays in the public feed, so that a consumer
/// polling it learns the alert ended.
pub(crate) const CANCEL_IN_FEED_MS: i64 = 24 * 3600 * 1000;

/// Alerts newest first: `$1` pages back by id; with `$2` (now) only the
/// public ones in effect (sent, Actual, Public, not expired, neither
/// superseded nor ended), and with `$3` also the Cancels sent after it.
pub(crate) fn list_alerts_sql() -> String {
    format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE ($1 IS NULL OR id < $1)
           AND ($2 IS NULL OR (state = 'sent' AND status = 'Actual' AND scope = 'Public'
                AND ((msg_type <> 'Cancel' AND (expires IS NULL OR expires > $2))
                     OR (msg_type = 'Cancel' AND $3 IS NOT NULL AND created_at > $3))))
         ORDER BY id DESC LIMIT $4"
    )
}

/// The parameters `$2` and `$3` of `list_alerts_sql` for a listing.
pub(crate) fn listing_params(l: crate::store::AlertListing) -> (Option<i64>, Option<i64>) {
    use crate::store::AlertListing::*;
    match l {
        All => (None, None),
        Active(now) => (Some(now.timestamp_millis()), None),
        Feed(now) => {
            let now = now.timestamp_millis();
            (Some(now), Some(now - CANCEL_IN_FEED_MS))
        }
    }
}

/// Residents of an Update's area join the notice's audience (`$1`); the
/// candidates are `$2` in the dialect's id-list form, `$3` the category
/// mask (NULL: past opt-outs).
pub(crate) fn join_audience_sql(candidates: &str) -> String {
    format!(
        "INSERT INTO notice_recipients (notice_id, resident_id)
         SELECT $1, res.id FROM residents res WHERE {}
         ON CONFLICT DO NOTHING",
        super::audience_filter(candidates, "$3")
    )
}

/// The category mask residents joining an alert's audience must pass
/// (`None`: everyone, as for the urgent alert's first audience).
pub(crate) fn joining_mask(
    notice: &crate::store::Notice,
    a: &crate::store::AlertEvent,
) -> Option<i64> {
    (!a.ignore_opt_outs)
        .then(|| crate::domain::CategorySet::from_categories(&[notice.category]).mask())
}

/// `$1` the notice; after `join_audience_sql`.
pub(crate) const RECOUNT_AUDIENCE: &str = "UPDATE notices SET recipients =
     (SELECT COUNT(*) FROM notice_recipients WHERE notice_id = $1) WHERE id = $1";

/// A notice's next event (`$1` notice, `$2` kind, `$3` message, `$4`
/// expected end, `$5` now, `$6` an alert's `AlertContent` JSON). The
/// caller serialises events of one notice, so MAX(seq) + 1 is taken once.
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO notice_events (notice_id, seq, kind, message, expected_end, created_at, alert)
     VALUES ($1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM notice_events WHERE notice_id = $1),
             $2, $3, $4, $5, $6)
     RETURNING id";

/// The notice (`$4`) after an event (`$1` now, `$2` expected end, `$3`
/// whether it closes, `$5` an Update's area as JSON, else NULL).
pub(crate) const NOTICE_AFTER_EVENT: &str = "UPDATE notices SET updated_at = $1, expected_end = $2,
        status = CASE WHEN $3 THEN 'closed' ELSE status END,
        closed_at = CASE WHEN $3 THEN $1 ELSE closed_at END,
        area = COALESCE($5, area)
     WHERE id = $4";
