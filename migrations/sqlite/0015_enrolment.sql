-- People choose their own console passwords through a one-time link, so
-- the two-person rule binds people, not tokens (docs/ARCHITECTURE.md,
-- Security). `accounts.password_hash` '' means no password yet (it
-- stays NOT NULL: SQLite cannot relax a column without rebuilding the
-- table its sessions refer to); `enrolled_at` is when the owner last set
-- it through a link, NULL when an admin chose it or there is none.
ALTER TABLE accounts ADD COLUMN enrolled_at INTEGER;

-- One row per link issued; the token is stored only as its SHA-256.
CREATE TABLE enrolments (
    token_hash  TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    replaced_at INTEGER           -- a newer link was issued for the account
);
CREATE INDEX enrolments_by_account ON enrolments (account_id);

-- The console account of whoever created and approved an alert (NULL: a
-- bearer token or the scheduler), so the alert names people.
ALTER TABLE alerts ADD COLUMN creator_username TEXT;
ALTER TABLE alerts ADD COLUMN approver_username TEXT;
UPDATE alerts SET
    creator_username = (SELECT username FROM accounts WHERE principal_id = alerts.created_by),
    approver_username = (SELECT username FROM accounts WHERE principal_id = alerts.approved_by);
