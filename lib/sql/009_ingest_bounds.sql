-- Bounds on what input can make mentord store ([ingest] max_unknown_agents and
-- max_behaviors, issue 18), and the length and hash of a rejected payload
-- stored cut short.

-- Set only when payload holds the first bytes of a longer (oversize) message:
-- its whole length and the SHA-256 of the whole message.
ALTER TABLE rejected_events ADD COLUMN payload_bytes bigint, ADD COLUMN payload_sha256 bytea;

-- The agents the roster does not know, counted when a batch brings a new one
-- (an index-only scan, not a read of the whole roster).
CREATE INDEX agents_unknown ON agents (agent_id) WHERE NOT roster_known;
