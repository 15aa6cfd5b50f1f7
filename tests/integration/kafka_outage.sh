#!/bin/bash
# The broker goes away in the middle of consumption and comes back (a
# librdkafka mock cluster steered by the test, for the fault a real broker
# cannot easily be made to show): mentord stays up, says so, and ends with
# every event stored once.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
: "${MOCK_KAFKA:?MOCK_KAFKA unset}"

mkfifo "$work/control"
"$MOCK_KAFKA" <"$work/control" >"$work/mock.out" 2>"$work/mock.err" &
mock=$!
exec 3>"$work/control"  # held open: the mock runs until this closes
answers() { grep -c '' "$work/mock.out" || true; }
# control COMMAND...: send one command and wait for its answer.
control() {
    local before
    before=$(answers)
    echo "$*" >&3
    got_answer() { (($(answers) > before)); }
    wait_until 10 got_answer || fail "mock-kafka did not answer '$*'"
    assert_eq "mock-kafka: $*" ok "$(tail -n 1 "$work/mock.out")"
}
wait_until 10 test -s "$work/mock.out" || fail "mock-kafka did not start"
bootstrap=$(head -n 1 "$work/mock.out")

prefix="kout-$run_id"
schema="it_kout_$run_id"
for kind in voc aqm roster; do control topic "$prefix.$kind" 1; done
n=400
for i in $(seq 1 "$n"); do
    printf '{"schema":"aqm.v1","event_id":"k-%d","agent_id":"A%03d","occurred_at":"2026-10-05T10:%02d:%02dZ","overall":%d}' \
        "$i" $((i % 20)) $((i / 60 % 60)) $((i % 60)) $((i % 101)) >"$work/m$i.json"
done
"$PRODUCE_FILES" "$bootstrap" "$prefix.aqm" A000 "$work"/m*.json || fail "producing to the mock cluster failed"

# Small fetches and slow answers spread consumption over seconds, so the outage lands in the middle.
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "[ingest]" "batch_max_events = 20" \
    "[kafka]" "session.timeout.ms = 6000" "max.partition.fetch.bytes = 1024"
control rtt 1 100
MENTORD_KAFKA=$bootstrap "$MENTORD_BIN" --config "$work/run.conf" --exit-at-end --http off 2>"$work/mentord.log" &
pid=$!
started() { (($(offsets_stored "$schema") >= 40)); }
wait_until 60 started || fail "no progress before the outage"
control down 1
lines=$(grep -c '' "$work/mentord.log")
noticed() { tail -n +"$lines" "$work/mentord.log" | grep -q '^<[0-4]>kafka'; }
wait_until 30 noticed || fail "mentord did not log the broker going away"
assert_eq "alive while the broker is down" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
stored_during=$(offsets_stored "$schema")
assert_eq "the outage landed mid-stream" yes "$( ((stored_during < n)) && echo yes || echo no)"
control up 1
exited() { ! kill -0 "$pid" 2>/dev/null; }
wait_until 120 exited || { kill -TERM "$pid"; fail "mentord did not finish after the broker came back"; }
code=0
wait "$pid" || code=$?
assert_eq "exit code" 0 "$code"
assert_eq "every message consumed once" "$n" "$(offsets_stored "$schema")"
assert_eq "every event stored once" "$n" "$(psql_val "$schema" "SELECT count(*) FROM score_events")"
assert_eq "log lines without a priority prefix" 0 "$(grep -vc '^<[0-7]>' "$work/mentord.log" || true)"

exec 3>&-
wait "$mock" || true
psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
