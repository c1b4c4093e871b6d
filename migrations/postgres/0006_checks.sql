-- Scheduled warning-system checks ([[alerts.checks]] in tocsin.toml).

-- How far each check's schedule has been looked at: runs after `since`
-- are still to come (or were missed while the service was down).
CREATE TABLE checks (
    name       TEXT PRIMARY KEY,
    expression TEXT NOT NULL,
    since      BIGINT NOT NULL
);

-- One row per scheduled run: sent (with its Test alert), missed, or
-- failed. The key makes a run fire once even with several `serve`s.
CREATE TABLE check_runs (
    name        TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sent', 'missed', 'failed')),
    alert_id    BIGINT REFERENCES alerts(id),
    detail      TEXT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (name, due_at)
);
