-- The tamper-evident journal: append-only; each row holds the SHA-256 of
-- the previous row's hash and its own fields (see src/domain/journal.rs).
-- Ids are assigned by the writer (last + 1) because they are hashed.
CREATE TABLE journal (
    id        BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
