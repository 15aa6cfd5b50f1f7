-- Every batch rewrites the status row of each key it touches. At 70% full
-- about one update in seven found no room on its page, went to another page
-- and added an index entry, and the table grew to ~1.4x its live rows; at
-- 50% every update in a 1M-event drain was HOT and the table stayed at the
-- size of its live rows. Applies to the pages written from now on.
ALTER TABLE agent_behavior_status SET (fillfactor = 50);
