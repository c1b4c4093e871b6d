-- A claim holds the deliveries it took under a lease (docs/ARCHITECTURE.md,
-- "One message per contact"): a `sending` delivery is claimable again only
-- when no live lease row carries its `leased_by` token, so a second job
-- for the same rows finds them taken instead of sending them twice. One
-- lease row per claim (not a column per delivery) keeps renewals to one
-- row, finds the leases that ran out without an index on `state` (which
-- would end HOT updates, migration 11), and leaves `leased_by` unindexed.
ALTER TABLE deliveries ADD COLUMN leased_by BIGINT;

CREATE TABLE delivery_leases (
    token BIGINT PRIMARY KEY,
    -- Epoch ms on the database clock; renewed by the owner while it works.
    until BIGINT NOT NULL,
    -- The ids the claim asked for.
    ids BIGINT[] NOT NULL
);
