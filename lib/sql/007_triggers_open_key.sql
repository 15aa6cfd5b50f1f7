-- A new low-score trigger supersedes the open or waiting one of its agent
-- and behavior. The insert finds that one through this index, per staged
-- trigger, whatever the planner thinks of the table's size (in a drain from
-- empty it has no statistics yet, and the join it chose rescanned every open
-- trigger once per staged one).
CREATE INDEX triggers_open_key ON triggers (agent_id, behavior) WHERE status IN ('open', 'waiting');
