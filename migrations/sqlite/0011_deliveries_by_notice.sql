-- A notice's deliveries by id only. The old key (notice_id, channel, state)
-- moved every row to a new index entry at each of its state changes
-- (queued, sending, its outcome), and left the console's list of a
-- notice's deliveries, ordered by id, to sort the whole notice for one page.
-- The summary reads the rows anyway (it groups by event), and the few
-- statements that filter a notice by state scan that notice only.
DROP INDEX deliveries_by_notice;
CREATE INDEX deliveries_by_notice ON deliveries (notice_id);
