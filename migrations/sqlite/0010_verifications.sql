-- Subscriptions from the public page wait here until the resident types
-- the one-time code sent to their phone or mailbox; then they become a
-- resident and the row goes. Rows older than a day are removed with the
-- next request, so unverified personal data does not pile up.
CREATE TABLE verifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,      -- HMAC of the code under the server key
    request    TEXT NOT NULL,      -- the subscription as submitted (JSON)
    tries      INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX verifications_by_address ON verifications (address, created_at);
CREATE INDEX verifications_by_time ON verifications (created_at);
