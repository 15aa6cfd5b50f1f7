#!/bin/bash
# A generated center plus a hostile corpus through the real broker into the
# real server: every message is either stored or rejected with its reason,
# repeats are stored once, and the tables stay intact.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="corpus-$run_id"
schema="it_corpus_$run_id"
conf=$work/mentord.conf
write_config "$conf" "$schema" "$prefix" "$prefix"

generate "$prefix" --agents 60 --days 10 --seed 7 --duplicate-share 0.02 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster dups < <(generated_counts "$work/gen.log")

# --- The hostile corpus: one file per message, each sent byte for byte.
c=$work/corpus
mkdir -p "$c"
ts='"occurred_at":"2026-10-05T10:00:00Z"'
voc_ok() { printf '{"schema":"voc.v1","event_id":"%s","agent_id":"%s",%s,"csat":%s}' "$1" "$2" "$ts" "${3:-4}"; }
aqm_ok() { printf '{"schema":"aqm.v1","event_id":"%s","agent_id":"%s",%s,"overall":%s}' "$1" "$2" "$ts" "${3:-80}"; }

# Rejected on the VOC topic, with the reason each must get.
declare -A voc_bad=(
    [malformed_json]='{"schema":"voc.v1","event_id":"h1",'
    [not_object]='[1,2,3]'
    [unknown_schema]='{"schema":"voc.v9","event_id":"h2","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","csat":4}'
    [missing_field]='{"schema":"voc.v1","event_id":"h3","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z"}'
    [wrong_type]='{"schema":"voc.v1","event_id":"h4","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","csat":"4"}'
    [out_of_range]='{"schema":"voc.v1","event_id":"h5","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","csat":9}'
    [bad_timestamp]='{"schema":"voc.v1","event_id":"h6","agent_id":"A0001","occurred_at":"2026-10-05 10:00","csat":4}'
    [future_timestamp]='{"schema":"voc.v1","event_id":"h7","agent_id":"A0001","occurred_at":"2999-01-01T00:00:00Z","csat":4}'
    [bad_id]='{"schema":"voc.v1","event_id":"","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","csat":4}'
)
n_bad=0
for reason in "${!voc_bad[@]}"; do
    printf '%s' "${voc_bad[$reason]}" >"$c/voc-$reason.json"
    n_bad=$((n_bad + 1))
done
# NaN is not JSON; invalid UTF-8 inside a string; an empty message; an oversize one.
printf '{"schema":"aqm.v1","event_id":"h8","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","overall":NaN}' >"$c/aqm-nan.json"
printf '{"schema":"aqm.v1","event_id":"h9","agent_id":"A\xff\xfe","occurred_at":"2026-10-05T10:00:00Z","overall":50}' >"$c/aqm-utf8.json"
: >"$c/aqm-empty.json"
{ printf '{"schema":"aqm.v1","event_id":"h10","pad":"'; head -c 70000 /dev/zero | tr '\0' x; printf '"}'; } >"$c/aqm-oversize.json"
printf '{"schema":"aqm.v1","event_id":"h11","agent_id":"A0001","occurred_at":"2026-10-05T10:00:00Z","overall":101}' >"$c/aqm-range.json"
n_bad=$((n_bad + 5))

# Accepted: SQL in ids is data; a repeated event_id is stored once; an unknown agent is kept.
sql_id="A1'); DROP TABLE score_events; --"
voc_ok "sql-1" "$sql_id" 5 >"$c/voc-sql.json"
aqm_ok "rep-1" "A0002" 70 >"$c/aqm-rep-a.json"
aqm_ok "rep-1" "A0002" 10 >"$c/aqm-rep-b.json"
aqm_ok "new-agent-1" "Z9999" 55 >"$c/aqm-new-agent.json"
n_good_unique=3
n_good_sent=4

# In name order, so that the first repeat (rep-a) is produced, and stored, first.
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.voc" A0001 "$c"/voc-*.json
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$c"/aqm-*.json
# The generator counts repeats in voc= and aqm=.
produced=$((voc + aqm + roster + n_bad + n_good_sent))
echo "produced $produced messages ($dups generated repeats, $n_bad hostile, $n_good_sent valid extra)"

drain "$conf" 2>"$work/mentord.log" || { tail -n 20 "$work/mentord.log"; fail "mentord exited non-zero"; }
tail -n 3 "$work/mentord.log"

stored=$(psql_val "$schema" "SELECT count(*) FROM score_events")
rejected=$(psql_val "$schema" "SELECT count(*) FROM rejected_events")
offsets=$(offsets_stored "$schema")
assert_eq "every message consumed (sum of stored offsets)" "$produced" "$offsets"
assert_eq "score events stored (unique)" "$((voc + aqm - dups + n_good_unique))" "$stored"
assert_eq "rejected events" "$n_bad" "$rejected"
assert_eq "accepted + repeats + rejected = produced" "$produced" \
    "$((stored + dups + (n_good_sent - n_good_unique) + rejected + roster))"
assert_eq "roster agents known" "$roster" "$(psql_val "$schema" "SELECT count(*) FROM agents WHERE roster_known")"
assert_eq "unknown agents kept" "2" "$(psql_val "$schema" \
    "SELECT count(*) FROM agents WHERE NOT roster_known AND agent_id IN ('Z9999', \$\$$sql_id\$\$)")"
assert_eq "first copy of a repeat wins" "70" "$(psql_val "$schema" "SELECT overall FROM score_events WHERE event_id = 'rep-1'")"
assert_eq "SQL in an id is stored verbatim" "$sql_id" \
    "$(psql_val "$schema" "SELECT agent_id FROM score_events WHERE event_id = 'sql-1'")"
assert_eq "rejects without a reason or detail" "0" \
    "$(psql_val "$schema" "SELECT count(*) FROM rejected_events WHERE reason = '' OR detail = ''")"
for reason in "${!voc_bad[@]}"; do
    assert_eq "reason $reason" "1" "$(psql_val "$schema" \
        "SELECT count(*) FROM rejected_events WHERE topic = '$prefix.voc' AND reason = '$reason'")"
done
assert_eq "AQM reasons" "empty invalid_utf8 malformed_json out_of_range oversize" "$(psql_val "$schema" \
    "SELECT string_agg(reason, ' ' ORDER BY reason) FROM rejected_events WHERE topic = '$prefix.aqm'")"
# An oversize payload keeps its first 4096 bytes, its whole length and its SHA-256; the others are whole.
assert_eq "oversize payload: prefix, length, hash" \
    "4096 $(stat -c %s "$c/aqm-oversize.json") $(sha256sum <"$c/aqm-oversize.json" | cut -d' ' -f1)" \
    "$(psql_val "$schema" "SELECT length(payload) || ' ' || payload_bytes || ' ' || encode(payload_sha256, 'hex')
        FROM rejected_events WHERE reason = 'oversize'")"
assert_eq "oversize prefix is the message's" "$(head -c 4096 "$c/aqm-oversize.json" | md5sum | cut -d' ' -f1)" \
    "$(psql_val "$schema" "SELECT md5(payload) FROM rejected_events WHERE reason = 'oversize'")"
assert_eq "payloads kept whole carry no length or hash" "0" \
    "$(psql_val "$schema" "SELECT count(*) FROM rejected_events WHERE reason <> 'oversize'
        AND (payload_bytes IS NOT NULL OR payload_sha256 IS NOT NULL)")"
assert_eq "invalid UTF-8 payload kept byte for byte" "$(md5sum <"$c/aqm-utf8.json" | cut -d' ' -f1)" \
    "$(psql_val "$schema" "SELECT md5(payload) FROM rejected_events WHERE reason = 'invalid_utf8'")"
assert_eq "one log line per reject" "$n_bad" "$(grep -c '^<4>rejected ' "$work/mentord.log")"
# Aggregates equal a recomputation from the stored events.
assert_eq "daily aggregates match score_events" "0" "$(psql_val "$schema" "
    SELECT count(*) FROM (
      SELECT e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
             count(*) AS n, sum(o.value) AS sum, sum(o.value * o.value) AS sumsq, e.program
        FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) o
       GROUP BY 1, 2, 3, 7
      EXCEPT SELECT agent_id, metric, day, n, sum, sumsq, program FROM agent_daily) d")"
assert_eq "aggregate rows all explained" "$(psql_val "$schema" "SELECT count(*) FROM agent_daily")" \
    "$(psql_val "$schema" "SELECT count(DISTINCT (e.agent_id, o.metric, (e.occurred_at AT TIME ZONE 'UTC')::date,
                                          e.program))
        FROM score_events e, event_observations(e.kind, e.csat, e.overall, e.scores, 1, 5) o")"

# Each partition's event-time progress is the newest event stored from it.
assert_eq "max_event_at per partition = newest stored event" "0" "$(psql_val "$schema" "
    SELECT count(*) FROM consumer_offsets o
      FULL JOIN (SELECT topic, partition, max(occurred_at) AS newest FROM score_events GROUP BY 1, 2) e
     USING (topic, partition)
     WHERE o.max_event_at IS DISTINCT FROM e.newest")"

# A second drain of the same topics changes nothing.
before=$(table_digest "$schema")
drain "$conf" 2>>"$work/mentord.log" || fail "second drain exited non-zero"
assert_eq "second drain changes nothing" "$before" "$(table_digest "$schema")"

# Kafka unreachable: mentord keeps trying, and librdkafka's complaints come out
# as mentord's own log lines, each with a journald priority prefix.
MENTORD_KAFKA=127.0.0.1:1 "$MENTORD_BIN" --config "$conf" --http off 2>"$work/nokafka.log" &
pid=$!
complained() { grep -q '^<3>kafka .*Connect to' "$work/nokafka.log"; }
wait_until 30 complained || fail "no log line about the unreachable broker"
assert_eq "alive while Kafka is unreachable" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
assert_eq "exit code after SIGTERM without Kafka" 0 "$code"
assert_eq "log lines without a priority prefix" 0 "$(grep -vc '^<[0-7]>' "$work/nokafka.log" || true)"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
