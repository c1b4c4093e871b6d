-- Delivery policy: notice expiry and the shared provider pace.

-- After this instant unsent deliveries of the notice expire (NULL: the
-- expected end of the works, for all but the closing message).
ALTER TABLE notices ADD COLUMN expires_at BIGINT;

-- One row per channel: the GCRA state every worker reserves slots from
-- (microseconds on the database clock, so workers on machines whose
-- clocks differ still share one pace).
CREATE TABLE rate_limits (
    channel      TEXT PRIMARY KEY,
    tat          BIGINT NOT NULL,
    paused_until BIGINT NOT NULL,
    last_allowed BIGINT NOT NULL
);

-- Claims given back unsent because a higher lane needed the provider; they
-- do not count as attempts (`attempts` itself only grows: the PostgreSQL
-- claim compares it to detect a concurrent claimer).
ALTER TABLE deliveries ADD COLUMN yields INTEGER NOT NULL DEFAULT 0;

-- Messages that wait: a later step of a fallback cascade (state pending)
-- or a routine message held through quiet hours (state suppressed). At
-- not_before the release loop sends, expires or drops them. NULL: now.
ALTER TABLE deliveries ADD COLUMN not_before BIGINT;
-- The step of the notice kind's fallback cascade this message belongs to,
-- and what an earlier step must have reached for it to be dropped
-- ('delivered' or 'acknowledged'; NULL for step 0).
ALTER TABLE deliveries ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN stop_if TEXT;
CREATE INDEX deliveries_waiting ON deliveries (not_before) WHERE not_before IS NOT NULL;

-- Notices about the same outage (the publisher's own key): a resident the
-- outage already reached is not messaged again by a later notice about it,
-- and a message still waiting is replaced by the later one.
ALTER TABLE notices ADD COLUMN outage TEXT;
CREATE INDEX notices_by_outage ON notices (outage) WHERE outage IS NOT NULL;
