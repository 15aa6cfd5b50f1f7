#!/bin/bash
# Alert delivery against hostile and broken receivers (issue #18, item 4),
# with rows inserted by hand into the alerts outbox as in alerts_delivery.sh:
#  - routes to loopback are refused without [alerts] allow_private, on the
#    address connected to (127.0.0.1, localhost, [::1]): dead at once, no
#    request made, one log line each;
#  - a receiver that accepts and never answers holds up only its own lead:
#    another lead's alerts are delivered while its request is still in
#    flight, and its own next alert waits behind it (per-lead order);
#  - a 400 answer: dead after max_client_error_attempts, the answer in
#    last_error; a 429 is retried past that;
#  - an alert id with CR LF cannot inject a header;
#  - two instances and receivers that answer just under the request timeout:
#    every alert is requested exactly once (no lease expires in flight).
# Events, not durations, are asserted: what was received, answered and
# recorded, and in which order.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

receiver_py=$here/../tools/webhook_receiver.py
prefix="alerts-iso-$run_id"
schema="it_alerts_iso_$run_id"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

declare -A port=()
# start_receiver NAME [receiver options...]: sets port[NAME] once it listens.
start_receiver() {
    local name=$1
    shift
    rm -f "$work/$name.port"
    python3 "$receiver_py" --port-file "$work/$name.port" --accepted "$work/$name.accepted" --log "$work/$name.log" \
        --received "$work/$name.received" "$@" 2>>"$work/$name.err" &
    pids+=($!)
    disown $!
    wait_until 10 test -s "$work/$name.port" || fail "receiver $name did not start"
    port[$name]=$(cat "$work/$name.port")
    touch "$work/$name.accepted" "$work/$name.log" "$work/$name.received"
}

start_receiver ok
start_receiver hung --sleep 3600
start_receiver bad --status 400
start_receiver busy --status 429
start_receiver slow --sleep 2.5

sql() { psql_val "$schema" "$1"; }
route() {
    sql "INSERT INTO team_leads (team_lead_id, webhook_url, body_format) VALUES ('$1', '$2', 'json')
         ON CONFLICT (team_lead_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url" >/dev/null
}
# alert ID LEAD: a pending alert, due now (the id is a dollar-quoted SQL literal: it may hold anything but $q$).
alert() {
    sql "INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, created_at, program, payload)
         VALUES (\$q\$$1\$q\$, 'low_score_trigger', '$2', 'A0001', now(), clock_timestamp(), 'default',
                 jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', \$q\$$1\$q\$, 'kind', 'low_score_trigger',
                     'team_lead_id', '$2', 'agent_id', 'A0001', 'behavior', 'empathy'))" >/dev/null
}
status_of() { sql "SELECT status FROM alerts WHERE alert_id = '$1'"; }
is_status() { [[ $(status_of "$1") == "$2" ]]; }
count_in() { grep -cxF "$2" "$work/$1" || true; }
requests_of() { awk -v id="$1" '$1 == id' "$work/$2.log" | wc -l; }

# run_mentord NAME EXTRA_ALERTS_LINES...: a mentord over topics nobody writes to; sets pid[NAME].
declare -A pid=()
run_mentord() {
    local name=$1
    shift
    write_config "$work/$name.conf" "$schema" "$prefix" "$prefix" "[http]" "listen = off" "[analytics]" \
        "enabled = false" "[alerts]" "poll_ms = 200" "retry_base_ms = 200" "max_per_lead_per_hour = 0" \
        "connect_timeout_ms = 1000" "$@"
    "$MENTORD_BIN" --config "$work/$name.conf" 2>>"$work/$name.log" &
    pid[$name]=$!
    pids+=("${pid[$name]}")
}
stop_mentord() {
    kill -TERM "${pid[$1]}"
    wait "${pid[$1]}" || fail "mentord $1 exited non-zero"
}

# --- 1. allow_private off (the default): loopback routes refused at connect time, nothing requested.
run_mentord strict "request_timeout_ms = 5000"
wait_alive=${pid[strict]}
migrated() { [[ $(psql_val "$schema" "SELECT count(*) FROM schema_migrations WHERE version = 2" 2>/dev/null) == 1 ]]; }
wait_until 60 migrated || fail "migration 002 was not applied"
route Lv4 "http://127.0.0.1:${port[ok]}/hook"
route Lname "http://localhost:${port[ok]}/hook"
route Lv6 "http://[::1]:${port[ok]}/hook"
route Lmapped "http://[::ffff:127.0.0.1]:${port[ok]}/hook"
for lead in Lv4 Lname Lv6 Lmapped; do alert "p-$lead" "$lead"; done
all_dead() { [[ $(sql "SELECT count(*) FROM alerts WHERE alert_id LIKE 'p-%' AND status = 'dead'") == 4 ]]; }
wait_until 20 all_dead || fail "the loopback routes' alerts are not all dead"
assert_eq "p-Lv4: dead after one attempt, no status, refused for its address" \
    "dead 1  route Lv4 refused: it connects to 127.0.0.1, a loopback, link-local or private address ([alerts] allow_private is false)" \
    "$(sql "SELECT concat_ws(' ', status, attempts, coalesce(last_status_code::text, ''), last_error) FROM alerts WHERE alert_id = 'p-Lv4'")"
assert_eq "p-Lv6 refused for ::1" t "$(sql "SELECT last_error LIKE 'route Lv6 refused: it connects to ::1,%' FROM alerts WHERE alert_id = 'p-Lv6'")"
assert_eq "p-Lname (localhost) refused" t "$(sql "SELECT last_error LIKE 'route Lname refused: it connects to %' FROM alerts WHERE alert_id = 'p-Lname'")"
assert_eq "p-Lmapped (v4-mapped v6) refused" t "$(sql "SELECT last_error LIKE 'route Lmapped refused:%' FROM alerts WHERE alert_id = 'p-Lmapped'")"
assert_eq "the receiver got no request" 0 "$(wc -l <"$work/ok.received")"
assert_eq "one log line per refused alert" 4 "$(grep -c 'refused: it connects to .*giving up (dead)' "$work/strict.log")"
wait_alive=
stop_mentord strict

# --- 2. allow_private on, one instance, a request timeout far beyond the test's steps.
run_mentord one "request_timeout_ms = 30000" "allow_private = true" "max_client_error_attempts = 3"
wait_alive=${pid[one]}
route H "http://127.0.0.1:${port[hung]}/hook"
route O "http://127.0.0.1:${port[ok]}/hook"
alert h1 H
wait_until 20 grep -qxF h1 "$work/hung.received" || fail "h1 was not requested"
alert h2 H
for i in 1 2 3; do alert "o$i" O; done
all_o_sent() { [[ $(sql "SELECT count(*) FROM alerts WHERE alert_id LIKE 'o_' AND status = 'sent'") == 3 ]]; }
wait_until 20 all_o_sent || fail "lead O's alerts were not sent while lead H's receiver hangs"
# The order of events: O's three alerts were sent and recorded, and h1's request is still open.
assert_eq "h1 still in flight: pending, no attempt recorded, not answered" "pending 0 0" \
    "$(sql "SELECT concat_ws(' ', status, attempts) FROM alerts WHERE alert_id = 'h1'") $(requests_of h1 hung)"
assert_eq "h2 waits behind h1 (one request per lead at a time): not requested" 0 "$(count_in hung.received h2)"
assert_eq "o1..o3 accepted once each" "1 1 1" \
    "$(echo "$(count_in ok.accepted o1) $(count_in ok.accepted o2) $(count_in ok.accepted o3)")"
assert_eq "h1's lease was taken past the request timeout" t \
    "$(sql "SELECT next_attempt_at > now() + interval '20 seconds' FROM alerts WHERE alert_id = 'h1'")"

# A 400: dead on attempt 3 with the answer; a 429 goes on being retried.
route B "http://127.0.0.1:${port[bad]}/hook"
route T "http://127.0.0.1:${port[busy]}/hook"
alert b1 B
alert t1 T
wait_until 30 is_status b1 dead || fail "b1 (400) is not dead"
assert_eq "b1: 3 attempts, 400, the answer in last_error" \
    '3 400 HTTP 400 from route B: {"status": 400, "note": "told to"}' \
    "$(sql "SELECT concat_ws(' ', attempts, last_status_code, last_error) FROM alerts WHERE alert_id = 'b1'")"
assert_eq "the 400 receiver was asked exactly 3 times" 3 "$(requests_of b1 bad)"
assert_eq "b1's death logged as a refusal by the receiver" 1 \
    "$(grep -c 'alert b1 (lead B): attempt 3 failed: HTTP 400 .*the receiver refuses it, giving up (dead)' "$work/one.log")"
retried_past() { [[ $(sql "SELECT status = 'pending' AND attempts >= 4 FROM alerts WHERE alert_id = 't1'") == t ]]; }
wait_until 30 retried_past || fail "t1 (429) was not retried past max_client_error_attempts"

# An id with CR LF: percent-encoded in the header, signed and accepted as such, no header injected.
alert $'nl\r\nX-Injected: 1' O
wait_until 20 grep -qxF 'nl%0D%0AX-Injected: 1' "$work/ok.accepted" || fail "the CR LF id was not delivered encoded"
assert_eq "the CR LF id sent once" sent "$(sql "SELECT status FROM alerts WHERE alert_id = E'nl\\r\\nX-Injected: 1'")"

wait_alive=
stop_mentord one
assert_eq "h1 handed back at the stop, not counted as an attempt" "pending 0" \
    "$(sql "SELECT concat_ws(' ', status, attempts) FROM alerts WHERE alert_id = 'h1'")"

# --- 3. The handed-back h1 still goes before h2 (per-lead order); then two instances, receivers
# answering after 2.5 s of a 3 s timeout: every alert requested once.
sql "UPDATE alerts SET status = 'dead' WHERE alert_id = 't1'" >/dev/null
route H "http://127.0.0.1:${port[ok]}/hook"
run_mentord two-a "request_timeout_ms = 3000" "allow_private = true"
wait_alive=${pid[two-a]}
wait_until 20 is_status h2 sent || fail "h2 not sent"
assert_eq "h1 accepted before h2 (per-lead order)" "h1 h2" "$(grep -xE 'h1|h2' "$work/ok.accepted" | paste -sd' ')"
run_mentord two-b "request_timeout_ms = 3000" "allow_private = true"
for lead in S1 S2 S3 S4; do
    route "$lead" "http://127.0.0.1:${port[slow]}/hook"
    for i in 1 2 3 4; do alert "s-$lead-$i" "$lead"; done
done
all_s_sent() { [[ $(sql "SELECT count(*) FROM alerts WHERE alert_id LIKE 's-%' AND status = 'sent'") == 16 ]]; }
wait_until 120 all_s_sent || fail "the 16 slow alerts were not all sent"
assert_eq "16 slow alerts, 16 requests" 16 "$(wc -l <"$work/slow.received")"
assert_eq "no slow alert requested twice" "" "$(sort "$work/slow.received" | uniq -d | paste -sd' ')"
assert_eq "one attempt each" 16 "$(sql "SELECT sum(attempts) FROM alerts WHERE alert_id LIKE 's-%'")"
wait_alive=
assert_eq "no webhook-id accepted twice anywhere" "" "$(cat "$work"/*.accepted | sort | uniq -d | paste -sd' ')"
stop_mentord two-a
stop_mentord two-b

assert_eq "no sanitizer report in the logs" 0 \
    "$(cat "$work"/{strict,one,two-a,two-b}.log | grep -cE 'runtime error|AddressSanitizer|LeakSanitizer' || true)"
psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
