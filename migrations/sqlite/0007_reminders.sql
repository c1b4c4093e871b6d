-- Reminders of planned works already sent, as bits: 1 = the day before,
-- 2 = at the start. Set in the same transaction as the reminder's event,
-- so a reminder goes once even with several `serve` processes.
ALTER TABLE notices ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
-- Planned works still ahead, for the reminder sweep.
CREATE INDEX notices_upcoming ON notices (starts_at) WHERE status = 'active' AND kind = 'planned';
