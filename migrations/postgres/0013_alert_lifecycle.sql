-- Same tables and values as ../sqlite/0014_alert_lifecycle.sql: an alert
-- is superseded by an Update, ended by a Cancel (all-clear or
-- correction), or expires pending; `cancelled_at` becomes `ended_at`.
ALTER TABLE alerts DROP CONSTRAINT alerts_state_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_state_check CHECK (state IN
    ('pending', 'sent', 'recorded', 'expired', 'superseded', 'ended'));
ALTER TABLE alerts RENAME COLUMN cancelled_at TO ended_at;
ALTER TABLE alerts ADD COLUMN ended_by BIGINT REFERENCES alerts(id);
ALTER TABLE alerts ADD COLUMN superseded_by BIGINT REFERENCES alerts(id);
UPDATE alerts SET state = 'ended' WHERE ended_at IS NOT NULL AND state = 'sent';
DROP INDEX alerts_feed;
CREATE INDEX alerts_feed ON alerts (state, status, scope);
CREATE INDEX alerts_by_notice ON alerts (notice_id);

ALTER TABLE notice_events ADD COLUMN alert TEXT;
