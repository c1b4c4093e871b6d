-- Warning-system checks defined over the API (POST /api/v1/checks); those
-- in tocsin.toml are not stored. Names are unique across both.
CREATE TABLE check_definitions (
    name       TEXT PRIMARY KEY,
    cron       TEXT NOT NULL,
    audience   TEXT,
    circle     TEXT NOT NULL,
    template   TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
