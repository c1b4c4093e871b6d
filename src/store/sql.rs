//! SQL text and value conversions shared by the SQLite and PostgreSQL
//! backends. Both dialects accept the same `CASE`/`IN` expressions, so the
//! conditional transitions derived from the state machine are built once
//! here and cannot drift apart between backends.

use chrono::{DateTime, TimeZone, Utc};

mod alerts;
pub(crate) use alerts::*;

use tocsin_zones::Region;

use super::{
    Account, AudienceCounts, ContactCount, DueDelivery, Enrolment, NewNotice, RecipientPrefs,
    StoreError, UnreadableZone, Zone, ZoneList,
};
use crate::domain::CategorySet;
use crate::domain::DeliveryState::{self, *};
use crate::domain::EventKind;
use crate::domain::Language;
use crate::domain::OrgId;
use crate::domain::account::{LinkState, PasswordHash, PasswordState};
use crate::domain::auth::{Role, Territory};
use crate::domain::cascade::Cascade;
use crate::domain::cascade::Reached;
use crate::domain::journal::{JournalEntry, JournalKey};
use crate::domain::{ChannelOrder, QuietPreference};
use crate::domain::{DeliveryId, ResidentId, ZoneId};

/// Times are stored as Unix epoch milliseconds in both backends.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

pub(crate) fn opt_from_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

/// A zone row read back. Its geometry was validated when it was written,
/// under the limits of that time, so only its shape is parsed again; a row
/// that does not parse (edited by hand) is returned apart and logged.
pub(crate) fn read_zone(
    id: i64,
    name: String,
    geometry: &str,
    properties: &str,
    created_at: i64,
) -> Result<Zone, UnreadableZone> {
    let region = serde_json::from_str(geometry)
        .map_err(|e| format!("geometry: {e}"))
        .and_then(|g| Region::from_stored_geojson(&g).map_err(|e| format!("geometry: {e}")));
    let properties = match serde_json::from_str(properties) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("properties: not a JSON object".to_owned()),
        Err(e) => Err(format!("properties: {e}")),
    };
    match (region, properties) {
        (Ok(region), Ok(properties)) => Ok(Zone {
            id: ZoneId(id),
            name,
            region,
            properties,
            created_at: from_ms(created_at),
        }),
        (Err(reason), _) | (_, Err(reason)) => {
            tracing::error!(zone = id, %reason, "a stored zone does not read back; it is skipped until an administrator deletes it and uploads it again");
            Err(UnreadableZone {
                id: ZoneId(id),
                name,
                reason,
            })
        }
    }
}

pub(crate) fn zone_list(rows: impl IntoIterator<Item = Result<Zone, UnreadableZone>>) -> ZoneList {
    let mut list = ZoneList::default();
    for row in rows {
        match row {
            Ok(zone) => list.zones.push(zone),
            Err(bad) => list.unreadable.push(bad),
        }
    }
    list
}

/// `get_zone` from the list of that one id.
pub(crate) fn only_zone(list: ZoneList) -> Result<Option<Zone>, StoreError> {
    match list.unreadable.first() {
        Some(bad) => Err(StoreError::Unreadable(format!(
            "zone {} cannot be read back from the database; an administrator must delete it and upload it again",
            bad.id
        ))),
        None => Ok(list.zones.into_iter().next()),
    }
}

/// An organisation's `territory` column read back, trusted like a zone's
/// geometry. One that does not read back fails closed: `Unreadable`, never
/// `Anywhere`.
pub(crate) fn read_territory(organisation: Option<i64>, raw: Option<&str>) -> Territory {
    let Some(text) = raw else {
        return Territory::Anywhere;
    };
    let region = serde_json::from_str(text)
        .map_err(|e| e.to_string())
        .and_then(|g| Region::from_stored_geojson(&g).map_err(|e| e.to_string()));
    match region {
        Ok(region) => Territory::Within(region),
        Err(reason) => {
            tracing::error!(organisation, %reason, "a stored territory does not read back; the organisation may not publish until it is repaired");
            Territory::Unreadable
        }
    }
}

/// `'a','b'` for `state IN (...)`. The values are our own enum names, never
/// user input, which is why building SQL text from them is safe.
pub(crate) fn state_list(states: &[DeliveryState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// SQL that is true when a claim may take the delivery (`alias` is its
/// table's prefix, `now` the current epoch ms as SQL): waiting to be sent,
/// or `sending` with no live lease (its claim's lease ran out, or it was
/// claimed before leases existed).
pub(crate) fn claimable(alias: &str, now: &str) -> String {
    format!(
        "({alias}state IN ('pending', 'queued') OR ({alias}state = 'sending' AND NOT EXISTS (\
         SELECT 1 FROM delivery_leases l WHERE l.token = {alias}leased_by AND l.until >= {now})))"
    )
}

/// SQL that is true when the delivery may move to `v.next` from its
/// current state, built from the state machine so it never drifts from it.
/// `v` is the batch of outcomes (`id, next, provider_id, error, at`).
pub(crate) fn outcome_transition_sql() -> String {
    [Sent, Delivered, Queued, Failed, Expired]
        .iter()
        .map(|next| {
            let from = state_list(&DeliveryState::predecessors(*next));
            format!(
                "(v.next = '{}' AND deliveries.state IN ({from}))",
                next.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The `SET` list of the batched outcome UPDATE (`UPDATE deliveries SET
/// {this} FROM v WHERE deliveries.id = v.id`). The state and error change
/// only when the transition is allowed; the provider id and the sent /
/// delivered stamps are kept even when a receipt overtook the outcome, so
/// a late "sent" still records what the provider told us.
pub(crate) fn outcome_assignments() -> String {
    let applies = outcome_transition_sql();
    format!(
        "state = CASE WHEN {applies} THEN v.next ELSE deliveries.state END,
         error = CASE WHEN {applies} THEN COALESCE(v.error, deliveries.error) ELSE deliveries.error END,
         yields = CASE WHEN {applies} THEN deliveries.yields + v.refund ELSE deliveries.yields END,
         provider_id = COALESCE(deliveries.provider_id, v.provider_id),
         sent_at = CASE WHEN v.next IN ('sent', 'delivered') THEN COALESCE(deliveries.sent_at, v.at) ELSE deliveries.sent_at END,
         delivered_at = CASE WHEN v.next = 'delivered' THEN COALESCE(deliveries.delivered_at, v.at) ELSE deliveries.delivered_at END,
         updated_at = v.at"
    )
}

/// The `SET` fragment that stamps the time of a state reached through
/// `report`, with `$t` the placeholder of the current time.
/// Why an event's unsent deliveries stopped when a later event of the
/// same notice was published: the later message replaces them.
pub(crate) fn superseded_reason(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Closed => "not sent: the notice was closed first",
        _ => "not sent: superseded by a later update of the notice",
    }
}

/// The cascade step of a fan-out row (`c` the contact, `res` the
/// resident): by the cascade's own channel order, or, for a resident who
/// set `channel_order`, by their order (their n-th channel at the n-th
/// step; channels they did not list at the last). `position` is the
/// dialect's 0-based index of `c.channel` in `res.channel_order`, or NULL.
/// Channel names and numbers come from validated config, never from a
/// request.
pub(crate) fn cascade_step(c: &Cascade, position: &str, least: &str) -> String {
    if c.is_empty() {
        return "0".to_owned();
    }
    let mut by_cascade = "CASE c.channel".to_owned();
    for (i, s) in c.steps().iter().enumerate().skip(1) {
        for ch in &s.channels {
            by_cascade.push_str(&format!(" WHEN '{}' THEN {i}", ch.as_str()));
        }
    }
    by_cascade.push_str(" ELSE 0 END");
    let last = c.steps().len() - 1;
    format!(
        "CASE WHEN res.channel_order IS NULL THEN {by_cascade}
              ELSE COALESCE({least}({position}, {last}), {last}) END"
    )
}

/// The `stop_if` of a row whose step number is in `col`.
pub(crate) fn cascade_stop_if(c: &Cascade, col: &str) -> String {
    if c.is_empty() {
        return "NULL".to_owned();
    }
    let mut stop = format!("CASE {col}");
    for (i, s) in c.steps().iter().enumerate().skip(1) {
        if let Some(r) = s.unless {
            stop.push_str(&format!(" WHEN {i} THEN '{}'", r.as_str()));
        }
    }
    stop.push_str(" ELSE NULL END");
    stop
}

/// Milliseconds after the first message for the cascade step in `col`.
pub(crate) fn cascade_delay(c: &Cascade, col: &str) -> String {
    let mut out = format!("(CASE {col}");
    for (i, s) in c.steps().iter().enumerate().skip(1) {
        out.push_str(&format!(" WHEN {i} THEN {}", s.after.as_millis()));
    }
    out.push_str(" ELSE 0 END)");
    out
}

/// Sets `not_before` of each later step of one event, counted from the
/// resident's own first step (`$e`: the event, `$t`: now in ms).
pub(crate) fn cascade_schedule_sql(c: &Cascade, e: &str, t: &str) -> String {
    format!(
        "WITH first AS (SELECT resident_id, MIN(step) AS s FROM deliveries
                        WHERE event_id = {e} GROUP BY resident_id)
         UPDATE deliveries SET not_before = {t} + {} - {}
         FROM first
         WHERE deliveries.event_id = {e} AND deliveries.resident_id = first.resident_id
           AND deliveries.step > first.s",
        cascade_delay(c, "deliveries.step"),
        cascade_delay(c, "first.s"),
    )
}

/// The waiting deliveries that are due (`$t`: now in ms, `$n`: limit),
/// with what the release loop needs to decide about each: the best state
/// an earlier cascade step reached for the same resident, and when the
/// notice ends.
pub(crate) fn due_sql(t: &str, n: &str) -> String {
    format!(
        "SELECT d.id, d.channel, d.state, d.stop_if,
                (SELECT MAX(CASE e.state WHEN 'acknowledged' THEN 2 WHEN 'delivered' THEN 1 ELSE 0 END)
                 FROM deliveries e
                 WHERE e.event_id = d.event_id AND e.resident_id = d.resident_id
                   AND e.step < d.step) AS reached,
                CASE WHEN ev.kind = 'closed' THEN NULL
                     ELSE COALESCE(n.expires_at, ev.expected_end) END AS ends
         FROM deliveries d
         JOIN notice_events ev ON ev.id = d.event_id
         JOIN notices n ON n.id = d.notice_id
         WHERE d.not_before IS NOT NULL AND d.not_before <= {t}
           AND d.state IN ('pending', 'suppressed')
         ORDER BY d.not_before LIMIT {n}"
    )
}

/// Reads one row of `due_sql`.
pub(crate) fn due_from_row(
    id: i64,
    channel: &str,
    state: &str,
    stop_if: Option<&str>,
    reached: Option<i64>,
    ends: Option<i64>,
) -> Result<DueDelivery, StoreError> {
    Ok(DueDelivery {
        id: DeliveryId(id),
        channel: channel.parse().map_err(|e| corrupt("deliveries", e))?,
        held: state == "suppressed",
        stop_if: stop_if.and_then(Reached::parse),
        reached: match reached {
            Some(2) => Some(Reached::Acknowledged),
            Some(1) => Some(Reached::Delivered),
            _ => None,
        },
        ends: opt_from_ms(ends),
    })
}

/// States of a message that went (or is going) out: what a daily cap counts.
pub(crate) const COUNTED_STATES: &str = "'queued', 'sending', 'sent', 'delivered', 'acknowledged'";

pub(crate) fn report_stamp(next: DeliveryState, t: &str) -> String {
    match next {
        Sent => format!(", sent_at = COALESCE(sent_at, {t})"),
        Delivered => format!(", delivered_at = COALESCE(delivered_at, {t})"),
        Acknowledged => format!(", acknowledged_at = COALESCE(acknowledged_at, {t})"),
        _ => String::new(),
    }
}

/// Chooses a notice's audience among the candidate residents (`res`):
/// those whose categories include the notice's. `candidates` is the
/// dialect's test of `res.id` against the bound id list, `mask` the
/// placeholder of the category bit. `create_notice` and `count_audience`
/// both build their SQL from this and `active_contacts`, so a preview
/// counts exactly what a publication writes.
/// A NULL mask takes everyone: an urgent alert passes category opt-outs.
pub(crate) fn audience_filter(candidates: &str, mask: &str) -> String {
    format!("res.id {candidates} AND ({mask} IS NULL OR (res.categories & {mask}) <> 0)")
}

/// The category mask `audience_filter` applies to a new notice.
pub(crate) fn category_filter(n: &NewNotice) -> Option<i64> {
    (!n.ignore_opt_outs).then(|| CategorySet::from_categories(&[n.category]).mask())
}

/// Joins an audience member (`resident` is the id column) to the contacts
/// (`c`) that get one message each. `TRUE` reads as 1 in SQLite's integer
/// column and as the boolean in PostgreSQL.
pub(crate) fn active_contacts(resident: &str) -> String {
    format!("JOIN contacts c ON c.resident_id = {resident} AND c.active = TRUE")
}

/// The audience size and its active contacts per channel × language in one
/// statement and one pass over the id list: the row with a NULL channel
/// carries the number of residents (some may have no active contact).
pub(crate) fn count_audience_sql(candidates: &str, mask: &str) -> String {
    let audience = audience_filter(candidates, mask);
    let contacts = active_contacts("a.id");
    format!(
        "WITH a AS MATERIALIZED (SELECT res.id, res.language FROM residents res WHERE {audience})
         SELECT NULL AS channel, NULL AS language, COUNT(*) FROM a
         UNION ALL
         SELECT c.channel, a.language, COUNT(*) FROM a {contacts}
         GROUP BY c.channel, a.language"
    )
}

/// Reads the rows of `count_audience_sql` (channel, language, count).
pub(crate) fn audience_counts(
    rows: Vec<(Option<String>, Option<String>, i64)>,
) -> Result<AudienceCounts, StoreError> {
    let mut counts = AudienceCounts::default();
    for row in rows {
        match row {
            (Some(channel), Some(language), n) => counts.contacts.push(ContactCount {
                channel: channel.parse().map_err(|e| corrupt("contacts", e))?,
                language: Language::parse(&language).map_err(|e| corrupt("residents", e))?,
                contacts: n,
            }),
            (_, _, n) => counts.residents = n,
        }
    }
    Ok(counts)
}

/// The `timezone`, `quiet_hours` and `channel_order` columns of a
/// resident, as both backends store them (text, NULL = default).
pub(crate) fn prefs_from_columns(
    timezone: Option<String>,
    quiet_hours: Option<String>,
    channel_order: Option<String>,
) -> Result<RecipientPrefs, StoreError> {
    Ok(RecipientPrefs {
        timezone: timezone
            .map(|t| t.parse().map_err(|e| corrupt("residents", e)))
            .transpose()?,
        quiet_hours: QuietPreference::parse(quiet_hours.as_deref())
            .map_err(|e| corrupt("residents", e))?,
        channel_order: channel_order
            .map(|o| ChannelOrder::from_json(&o).map_err(|e| corrupt("residents", e)))
            .transpose()?,
    })
}

/// The column values of the optional preferences (see `prefs_from_columns`).
pub(crate) fn timezone_column(tz: Option<chrono_tz::Tz>) -> Option<&'static str> {
    tz.map(|t| t.name())
}

pub(crate) fn channel_order_column(order: Option<&ChannelOrder>) -> Option<String> {
    order.map(ChannelOrder::to_json)
}

// --- console accounts and enrolment links (`$n`; SQLite reads `?n`) ---

/// What `account_from` reads, from `ACCOUNTS`.
pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.username, t.label, t.role, t.organisation_id, \
     a.password_hash <> '', a.enrolled_at, a.created_at";
pub(crate) const ACCOUNTS: &str = "accounts a JOIN api_tokens t ON t.id = a.principal_id";
pub(crate) type AccountRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    bool,
    Option<i64>,
    i64,
);

pub(crate) fn account_from(r: AccountRow) -> Result<Account, StoreError> {
    let (id, username, display_name, role, organisation, has_password, enrolled_at, created_at) = r;
    Ok(Account {
        id,
        username,
        display_name,
        role: Role::parse(&role).ok_or_else(|| corrupt("api_tokens", &role))?,
        organisation_id: organisation.map(OrgId),
        password_state: PasswordState::of(has_password, enrolled_at.is_some()),
        enrolled_at: opt_from_ms(enrolled_at),
        created_at: from_ms(created_at),
    })
}

/// `accounts.password_hash` of an account nobody has enrolled yet.
pub(crate) const NO_PASSWORD: &str = "";

pub(crate) fn stored_password(stored: String) -> Option<PasswordHash> {
    (stored != NO_PASSWORD).then(|| PasswordHash::from_stored(stored))
}

/// `$1` token hash, `$2` account, `$3` now, `$4` expiry.
pub(crate) const INSERT_ENROLMENT: &str = "INSERT INTO enrolments
     (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";

/// Whether account `$1` has a password; no row if there is no account.
pub(crate) const HAS_PASSWORD: &str = "SELECT password_hash <> '' FROM accounts WHERE id = $1";

/// Voids account `$2`'s unused links at `$1`.
pub(crate) const REPLACE_ENROLMENTS: &str = "UPDATE enrolments SET replaced_at = $1
     WHERE account_id = $2 AND used_at IS NULL AND replaced_at IS NULL";

/// Account `$1` signs in with nothing until its owner enrols again.
pub(crate) const VOID_PASSWORD: &str = "UPDATE accounts
     SET password_hash = '', enrolled_at = NULL, failures = 0, locked_until = NULL WHERE id = $1";

pub(crate) const END_SESSIONS: &str = "DELETE FROM sessions WHERE account_id = $1";

/// Account, expiry, used, replaced of the link with token hash `$1`.
pub(crate) const ENROLMENT_BY_TOKEN: &str = "SELECT account_id, expires_at,
     used_at IS NOT NULL, replaced_at IS NOT NULL FROM enrolments WHERE token_hash = $1";

pub(crate) fn enrolment_from(r: (i64, i64, bool, bool), now: DateTime<Utc>) -> Enrolment {
    let (account, expires_at, used, replaced) = r;
    Enrolment {
        account,
        state: LinkState::at(now, from_ms(expires_at), used, replaced),
    }
}

/// Uses the link `$2` at `$1` if it still works; returns its account.
pub(crate) const USE_ENROLMENT: &str = "UPDATE enrolments SET used_at = $1
     WHERE token_hash = $2 AND used_at IS NULL AND replaced_at IS NULL AND expires_at > $1
     RETURNING account_id";

/// The owner's own password `$1` for account `$3`, enrolled at `$2`.
pub(crate) const SET_OWN_PASSWORD: &str = "UPDATE accounts
     SET password_hash = $1, enrolled_at = $2, failures = 0, locked_until = NULL WHERE id = $3";

/// Names the residents of an audience that do not exist (`None`: all do).
pub(crate) fn unknown_members(members: &[ResidentId], known: &[i64]) -> Option<String> {
    let known: std::collections::HashSet<i64> = known.iter().copied().collect();
    let missing: Vec<String> = members
        .iter()
        .filter(|m| !known.contains(&m.0))
        .take(10)
        .map(|m| m.to_string())
        .collect();
    (!missing.is_empty()).then(|| format!("no such resident: {}", missing.join(", ")))
}

/// Active planned notices whose reminder is due at `$1` (ms), at most
/// `$2`: the day before (bit 1) for works published more than a day
/// ahead, and at the start (bit 2, within the first hour) for works
/// published more than an hour ahead. Written with `$n`; SQLite reads
/// them as `?n`.
pub(crate) const DUE_REMINDERS: &str = "
    SELECT id, CAST(1 AS BIGINT) FROM notices
    WHERE status = 'active' AND kind = 'planned' AND (reminders & 1) = 0
      AND starts_at > $1 AND starts_at - 86400000 <= $1 AND created_at <= starts_at - 86400000
    UNION ALL
    SELECT id, CAST(2 AS BIGINT) FROM notices
    WHERE status = 'active' AND kind = 'planned' AND (reminders & 2) = 0
      AND starts_at <= $1 AND starts_at > $1 - 3600000 AND created_at <= starts_at - 3600000
    LIMIT $2";

/// Notices published since `$1`, by kind (the digest).
pub(crate) const DIGEST_NOTICES: &str =
    "SELECT kind, COUNT(*) FROM notices WHERE created_at > $1 GROUP BY kind ORDER BY kind";

/// Deliveries written since `$1`, by channel and state (the digest).
pub(crate) const DIGEST_DELIVERIES: &str = "SELECT channel, state, COUNT(*) FROM deliveries
     WHERE created_at > $1 GROUP BY channel, state ORDER BY channel, state";

/// The journal's columns in the order `journal_from_row` reads them.
pub(crate) const JOURNAL_COLUMNS: &str = "id, at, actor, action, subject, detail, prev_hash, hash";

/// The newest journal entry.
pub(crate) fn journal_head_sql() -> String {
    format!("SELECT {JOURNAL_COLUMNS} FROM journal ORDER BY id DESC LIMIT 1")
}

/// A journal row of either backend (columns as `JOURNAL_COLUMNS`).
pub(crate) fn journal_from_row<'r, R: sqlx::Row>(r: &'r R) -> JournalEntry
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    JournalEntry {
        id: r.get(0),
        at: from_ms(r.get(1)),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        detail: r.get(5),
        prev_hash: r.get(6),
        hash: r.get(7),
    }
}

/// The key appends need. Only `tocsin serve` opens its store with one:
/// workers and the other commands never write the journal.
pub(crate) fn journal_key(key: Option<&JournalKey>) -> Result<&JournalKey, StoreError> {
    key.ok_or_else(|| {
        StoreError::Config(
            "this process has no journal key, so it cannot write the journal \
             (only `tocsin serve` does)"
                .to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_come_from_the_state_machine() {
        let sql = outcome_transition_sql();
        assert!(sql.contains("(v.next = 'sent' AND deliveries.state IN ('sending'))"));
        assert!(sql.contains("(v.next = 'queued' AND deliveries.state IN ('pending','sending'))"));
        assert!(outcome_assignments().contains(&sql));
    }

    const SQUARE: &str =
        r#"{"type":"Polygon","coordinates":[[[25.3,50.7],[25.4,50.7],[25.4,50.8],[25.3,50.7]]]}"#;

    #[test]
    fn stored_zones_that_do_not_read_back_are_set_apart() {
        let list = zone_list([
            read_zone(1, "good".into(), SQUARE, "{}", 0),
            read_zone(2, "cut short".into(), &SQUARE[..40], "{}", 0),
            read_zone(
                3,
                "no ring".into(),
                r#"{"type":"Polygon","coordinates":[]}"#,
                "{}",
                0,
            ),
            read_zone(4, "bad properties".into(), SQUARE, "[]", 0),
        ]);
        assert_eq!(list.zones.iter().map(|z| z.id.0).collect::<Vec<_>>(), [1]);
        let bad: Vec<i64> = list.unreadable.iter().map(|z| z.id.0).collect();
        assert_eq!(bad, [2, 3, 4]);
        assert!(matches!(only_zone(list), Err(StoreError::Unreadable(m)) if m.contains("zone 2")));
    }

    #[test]
    fn a_territory_that_does_not_read_back_fails_closed() {
        assert!(matches!(read_territory(Some(1), None), Territory::Anywhere));
        assert!(matches!(
            read_territory(Some(1), Some(SQUARE)),
            Territory::Within(_)
        ));
        for garbage in ["", "null", "{\"type\":\"Point\"}", &SQUARE[..30]] {
            assert!(
                matches!(
                    read_territory(Some(1), Some(garbage)),
                    Territory::Unreadable
                ),
                "{garbage}"
            );
        }
    }
}
