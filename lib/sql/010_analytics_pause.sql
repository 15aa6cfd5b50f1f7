-- Backpressure for the whole consumer group (issue 18): while the decider
-- holds [analytics] max_waiting_observations or more observations waiting for
-- the watermark, a row for its group. Every instance then pauses those of its
-- partitions whose newest stored event is after pause_after (the group's
-- watermark before the allowed lateness: the newest event time of the
-- partition that holds it back), and keeps reading the others, which are what
-- can move it. No row: nothing paused. Only the decider writes it, in its own
-- transactions, when the state changes; the others read it as they check
-- for the analytics lock.
CREATE TABLE analytics_pause (
    group_id     text PRIMARY KEY,
    pause_after  timestamptz NOT NULL
);
