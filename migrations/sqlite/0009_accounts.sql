-- Console accounts and their sessions. An account signs in as its own
-- principal (an api_tokens row whose bearer token was never shown to
-- anyone), so roles, organisations and the two-person rule work for
-- people in the console exactly as for tokens.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,     -- lower case, see domain/account.rs
    password_hash TEXT NOT NULL,            -- Argon2id, PHC string
    principal_id  INTEGER NOT NULL UNIQUE REFERENCES api_tokens(id) ON DELETE CASCADE,
    failures      INTEGER NOT NULL DEFAULT 0,  -- consecutive wrong passwords
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL
);

-- A session id is stored only as its SHA-256; the CSRF token is useless
-- without the cookie, and the console reads it back after a reload.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);
