-- Residents' own delivery preferences (issue 4); same columns and values
-- as ../sqlite/0002_resident_preferences.sql. NULL everywhere means "what
-- the city configured", so existing residents keep today's behaviour.
ALTER TABLE residents
    ADD COLUMN timezone TEXT,       -- IANA name; NULL = city.timezone
    ADD COLUMN quiet_hours TEXT,    -- NULL = policy.quiet_hours, 'off', or 'HH:MM-HH:MM'
    ADD COLUMN channel_order TEXT;  -- JSON array of channel kinds; NULL = configured order

-- An SMS STOP names a number, not a resident: find its contacts directly.
CREATE INDEX contacts_by_address ON contacts (channel, address);
