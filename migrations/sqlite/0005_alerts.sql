-- Civil protection: operators, alerts (CAP 1.2), test audiences.

-- A third role: civil-protection operators create and approve alerts.
-- SQLite cannot change a CHECK, so the table is rebuilt with the same ids
-- (alerts name their creator and approver by token id).
CREATE TABLE api_tokens_new (
    id              INTEGER PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'executor', 'civil_protection')),
    organisation_id INTEGER REFERENCES organisations(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((role = 'executor') = (organisation_id IS NOT NULL))
);
INSERT INTO api_tokens_new SELECT id, token_hash, role, organisation_id, label, created_at
    FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;

-- The new "civil" category (civil-protection alerts): nobody could choose
-- it before, so everyone starts with it.
UPDATE residents SET categories = categories | 128;

-- What an alert's messages say, per language, and the exercise/test
-- marker (JSON, see domain/alert.rs); NULL for a utility's notice.
ALTER TABLE notices ADD COLUMN alert TEXT;

-- Named groups of residents that exercises and tests reach.
CREATE TABLE audiences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE audience_members (
    audience_id INTEGER NOT NULL REFERENCES audiences(id) ON DELETE CASCADE,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    PRIMARY KEY (audience_id, resident_id)
) WITHOUT ROWID;

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier    TEXT NOT NULL,
    sender        TEXT NOT NULL,
    sent          INTEGER NOT NULL,
    status        TEXT NOT NULL,       -- CAP status: actual, exercise, …
    msg_type      TEXT NOT NULL,       -- CAP msgType: alert, update, cancel
    scope         TEXT NOT NULL,
    headline      TEXT NOT NULL,
    urgent        INTEGER NOT NULL,    -- Extreme + Immediate + Actual
    expires       INTEGER,
    cap           TEXT NOT NULL,       -- the CAP 1.2 document, as Tocsin writes it
    state         TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'recorded')),
    references_id INTEGER REFERENCES alerts(id),
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
    cancelled_at  INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (sender, identifier)
);
CREATE INDEX alerts_feed ON alerts (state, status, scope) WHERE cancelled_at IS NULL;
