-- Decision time (issue 19): when in event time an event is decided. The
-- instance that stores it sets it from the event's partition alone: the
-- later of its occurred_at and the partition's newest earlier occurred_at
-- minus [analytics] allowed_lateness_seconds (docs/analytics.md). Decisions
-- run in this order, so they do not depend on how far other partitions were
-- read when an event arrived. Events stored before this migration were
-- decided at their own time.
ALTER TABLE score_events ADD COLUMN decide_at timestamptz;
UPDATE score_events SET decide_at = occurred_at;
ALTER TABLE score_events ALTER COLUMN decide_at SET NOT NULL;
-- Events are stored nearly in decision-time order: a BRIN index finds those
-- still to decide at a restart, however late their occurred_at.
CREATE INDEX score_events_decide ON score_events USING brin (decide_at);
