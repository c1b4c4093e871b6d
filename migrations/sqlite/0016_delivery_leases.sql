-- A claim holds the deliveries it took under a lease (docs/ARCHITECTURE.md,
-- "One message per contact"): a `sending` delivery is claimable again only
-- when no live lease row carries its `leased_by` token, so a second job
-- for the same rows finds them taken instead of sending them twice. One
-- lease row per claim (not a column per delivery) keeps renewals to one
-- row and finds the leases that ran out without an index on `state`.
ALTER TABLE deliveries ADD COLUMN leased_by INTEGER;

CREATE TABLE delivery_leases (
    token INTEGER PRIMARY KEY,
    -- Epoch ms; renewed by the owner while it works.
    until INTEGER NOT NULL,
    -- The ids the claim asked for, a JSON array.
    ids TEXT NOT NULL
);
