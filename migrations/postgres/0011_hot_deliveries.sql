-- Sending a delivery updates its row three times (queued, sending, its
-- outcome). PostgreSQL can make such an update "HOT" — a new row version
-- on the same page, no new index entries — only when no indexed column
-- changes and the page has room. `state` was a key of deliveries_summary
-- and in the predicates of two partial indexes, so every state change
-- inserted a new entry into each of the table's indexes and left the old
-- ones for cleanup. Measured standalone (300 000 rows, the service's
-- statements; docs/BENCHMARKS.md, eleventh look), claims took 2.6 s
-- instead of 7.2 s and outcomes 5.6 s instead of 11.6 s.
--
-- Now no index refers to `state`:
--  * `pending` mirrors `state = 'pending'`. A generated column changes
--    only when its value does, so only marking a delivery queued (once)
--    moves index entries; claims and outcomes can be HOT.
--  * Pages are filled to 60 % on insert, leaving room for the new
--    versions; the pruning of a page reclaims the old ones.
--  * The summary counts states from the rows, through deliveries_by_notice
--    (about three times slower than the old index-only scan: ~70 ms
--    instead of ~25 ms for 300 000 deliveries of one notice).
--  * The re-queue of every unfinished delivery (`tocsin requeue`, or a
--    start with the in-process queue) reads the table in id order, as
--    SQLite does (migration 13 there).
-- Adding the column rewrites the table: on a large installation, run
-- `tocsin migrate` in a quiet hour.
ALTER TABLE deliveries SET (fillfactor = 60);
ALTER TABLE deliveries
    ADD COLUMN pending BOOLEAN GENERATED ALWAYS AS (state = 'pending') STORED;

DROP INDEX deliveries_summary;
DROP INDEX deliveries_unfinished;
DROP INDEX deliveries_pending_by_event;

-- Publishing right after a fan-out: one event's pending deliveries in id
-- order. An entry lives only while the row is pending (seconds).
CREATE INDEX deliveries_pending_by_event ON deliveries (event_id, id) WHERE pending;
-- The sweeper and the release of waiting messages: all pending, in id order.
CREATE INDEX deliveries_pending ON deliveries (id) WHERE pending;
