-- Outcomes are appended to files beside the database and folded into
-- `deliveries` in bulk (src/store/sqlite/outcome_log.rs). `folded` is the
-- sequence number of the last line folded, written in the same transaction
-- as the fold, so a line still in a file after a crash is applied once.
CREATE TABLE outcome_log (
    folded INTEGER NOT NULL
);
INSERT INTO outcome_log (folded) VALUES (0);
