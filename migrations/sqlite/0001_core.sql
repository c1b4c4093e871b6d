-- Tocsin core schema (SQLite, embedded mode).
-- AUTOINCREMENT where ids are referenced after a delete (zones named by
-- old notices, residents and contacts in delivery history), so an id is
-- never reused for someone else.
-- Times are Unix epoch milliseconds (INTEGER) so the same values travel
-- unchanged to the PostgreSQL backend.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE organisations (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    territory  TEXT,               -- GeoJSON geometry, NULL = anywhere
    created_at INTEGER NOT NULL
);

-- Only SHA-256 hashes of bearer tokens are stored.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'executor')),
    organisation_id INTEGER REFERENCES organisations(id) ON DELETE CASCADE,
    label           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((role = 'executor') = (organisation_id IS NOT NULL))
);

CREATE TABLE zones (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    geometry   TEXT NOT NULL,      -- GeoJSON geometry, validated on the way in
    properties TEXT NOT NULL,      -- GeoJSON properties object
    created_at INTEGER NOT NULL
);

CREATE TABLE residents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    language   TEXT NOT NULL,
    lat        REAL,
    lon        REAL,
    categories INTEGER NOT NULL,   -- bit mask of notice categories
    created_at INTEGER NOT NULL,
    CHECK ((lat IS NULL) = (lon IS NULL))
);

CREATE TABLE resident_zones (
    zone_id     INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    PRIMARY KEY (zone_id, resident_id)
) WITHOUT ROWID;
CREATE INDEX resident_zones_by_resident ON resident_zones (resident_id);

CREATE TABLE contacts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id        INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
    channel            TEXT NOT NULL,
    address            TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 1,
    deactivated_reason TEXT,
    created_at         INTEGER NOT NULL,
    UNIQUE (resident_id, channel, address)
);

CREATE TABLE notices (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER REFERENCES organisations(id),
    kind            TEXT NOT NULL,
    category        TEXT NOT NULL,
    title           TEXT NOT NULL,
    cause           TEXT,
    starts_at       INTEGER NOT NULL,
    expected_end    INTEGER,
    status          TEXT NOT NULL,
    area            TEXT NOT NULL,  -- Area JSON: the exact geometry targeted
    zone_ids        TEXT NOT NULL,  -- JSON array of the zones named
    recipients      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    closed_at       INTEGER
);
CREATE INDEX notices_by_organisation ON notices (organisation_id, id);

CREATE TABLE notice_events (
    id           INTEGER PRIMARY KEY,
    notice_id    INTEGER NOT NULL REFERENCES notices(id),
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    message      TEXT,
    expected_end INTEGER,
    deliveries   INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    UNIQUE (notice_id, seq)
);

-- The audience fixed at publication: updates and the closing message go
-- to exactly these residents.
CREATE TABLE notice_recipients (
    notice_id   INTEGER NOT NULL REFERENCES notices(id),
    resident_id INTEGER NOT NULL,
    PRIMARY KEY (notice_id, resident_id)
) WITHOUT ROWID;

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    notice_id       INTEGER NOT NULL REFERENCES notices(id),
    event_id        INTEGER NOT NULL REFERENCES notice_events(id),
    resident_id     INTEGER,        -- NULL once the resident is deleted
    contact_id      INTEGER,
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,  -- as sent; blanked when the resident is deleted
    language        TEXT NOT NULL,
    lane            INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    provider_id     TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    acknowledged_at INTEGER,
    -- Exactly one message per contact per notice event.
    UNIQUE (event_id, contact_id)
);
CREATE INDEX deliveries_by_notice ON deliveries (notice_id, channel, state);
CREATE INDEX deliveries_by_resident ON deliveries (resident_id);
CREATE INDEX deliveries_unfinished ON deliveries (state)
    WHERE state IN ('pending', 'queued', 'sending');
