-- An alert's life after it is sent: a later Update supersedes it, an
-- all-clear or correction (a Cancel) ends it, and a pending alert nobody
-- approved before its `expires` expires. `cancelled_at` becomes
-- `ended_at`, set for all three.
--
-- SQLite cannot change a CHECK, so the table is rebuilt with the same
-- ids. `check_runs` refers to alerts: its rows step aside while the old
-- table is dropped (dropping deletes its rows first, and a foreign key
-- would refuse that). The references among alerts themselves carry no
-- foreign key here: a new table cannot refer to itself under its final
-- name before the old one is gone; only Tocsin writes those columns.
CREATE TEMP TABLE check_runs_kept AS SELECT * FROM check_runs;
DELETE FROM check_runs;

CREATE TABLE alerts_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier    TEXT NOT NULL,
    sender        TEXT NOT NULL,
    sent          INTEGER NOT NULL,
    status        TEXT NOT NULL,       -- CAP status: Actual, Exercise, …
    msg_type      TEXT NOT NULL,       -- CAP msgType: Alert, Update, Cancel
    scope         TEXT NOT NULL,
    headline      TEXT NOT NULL,
    urgent        INTEGER NOT NULL,    -- took the urgent lane ([alerts.lanes])
    expires       INTEGER,
    cap           TEXT NOT NULL,       -- the CAP 1.2 document, as Tocsin writes it
    state         TEXT NOT NULL CHECK (state IN
                      ('pending', 'sent', 'recorded', 'expired', 'superseded', 'ended')),
    references_id INTEGER,             -- alerts.id of the alert an Update/Cancel refers to
    notice_id     INTEGER REFERENCES notices(id),
    event_id      INTEGER REFERENCES notice_events(id),  -- the event this alert sent
    audience_id   INTEGER REFERENCES audiences(id),
    widened       INTEGER NOT NULL DEFAULT 0,
    template      TEXT,
    created_by    INTEGER NOT NULL,    -- api_tokens.id of the operator
    creator       TEXT NOT NULL,       -- their name, as the journal shows it
    approved_by   INTEGER,
    approver      TEXT,
    approved_at   INTEGER,
    ended_at      INTEGER,             -- superseded, ended or expired at
    ended_by      INTEGER,             -- alerts.id of the Cancel that ended it
    superseded_by INTEGER,             -- alerts.id of the Update that replaced it
    created_at    INTEGER NOT NULL,
    UNIQUE (sender, identifier)
);
INSERT INTO alerts_new
    (id, identifier, sender, sent, status, msg_type, scope, headline, urgent, expires, cap,
     state, references_id, notice_id, event_id, audience_id, widened, template, created_by,
     creator, approved_by, approver, approved_at, ended_at, created_at)
SELECT id, identifier, sender, sent, status, msg_type, scope, headline, urgent, expires, cap,
       CASE WHEN cancelled_at IS NOT NULL AND state = 'sent' THEN 'ended' ELSE state END,
       references_id, notice_id, event_id, audience_id, widened, template, created_by,
       creator, approved_by, approver, approved_at, cancelled_at, created_at
FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_feed ON alerts (state, status, scope);
CREATE INDEX alerts_by_notice ON alerts (notice_id);

INSERT INTO check_runs SELECT * FROM check_runs_kept;
DROP TABLE check_runs_kept;

-- What each event of an alert's notice says (AlertContent JSON): an
-- Update or all-clear has its own text, never the alarm's.
ALTER TABLE notice_events ADD COLUMN alert TEXT;
