-- How far each partition has got in event time: the newest occurred_at of
-- the score events stored from it, written in the same transaction as its
-- offset. The minimum over a group's partitions is the group's event-time
-- watermark, which the analytics' checkpoints will wait for
-- (docs/design-analytics.md). NULL: no score event stored from it yet.
ALTER TABLE consumer_offsets ADD COLUMN max_event_at timestamptz;
