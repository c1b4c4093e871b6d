-- Delivery policy: notice expiry and the shared provider pace.

-- After this instant unsent deliveries of the notice expire (NULL: the
-- expected end of the works, for all but the closing message).
ALTER TABLE notices ADD COLUMN expires_at INTEGER;

-- One row per channel: the GCRA state every worker reserves slots from
-- (microseconds on the database clock). Only the cluster mode uses it.
CREATE TABLE rate_limits (
    channel      TEXT PRIMARY KEY,
    tat          INTEGER NOT NULL,
    paused_until INTEGER NOT NULL,
    last_allowed INTEGER NOT NULL
);

-- Claims given back unsent because a higher lane needed the provider; they
-- do not count as attempts (`attempts` itself only grows: the PostgreSQL
-- claim compares it to detect a concurrent claimer).
ALTER TABLE deliveries ADD COLUMN yields INTEGER NOT NULL DEFAULT 0;
