-- A fan-out inserts a row into notice_recipients per resident and into
-- deliveries per contact, up to millions in one statement, and each
-- foreign key ran its check once per row: the two of deliveries took
-- 2.1 s of every 300 000 rows inserted (measured alone: 2.6 s with them,
-- 0.5 s without; docs/BENCHMARKS.md, eleventh look). Both tables are
-- written only by the fan-out, in the transaction that has just inserted
-- the notice and the event whose ids it writes, and notices and events
-- are never deleted, so the checks could never fail.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_notice_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE notice_recipients DROP CONSTRAINT notice_recipients_notice_id_fkey;
