#!/bin/bash
# systemd notifications, with a notify socket this test owns in place of
# systemd: no READY=1 while PostgreSQL is unreachable at start (and a clean
# stop from that wait), READY=1 once consuming, WATCHDOG=1 at most every half interval,
# RELOADING=1 (with MONOTONIC_USEC) then READY=1 around SIGHUP (from a file
# with program sections and a behavior's own thresholds to one with more of
# them, each config's arrays freed once), watchdog pings
# and /readyz 503 while PostgreSQL is down (waiting out an outage is progress,
# not a hang), STOPPING=1 and exit 0 on SIGTERM.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=../harness/lib.sh
. "$here/../harness/lib.sh"

prefix="notify-$run_id"
schema="it_notify_$run_id"
generate "$prefix" --agents 5 --days 2 --seed 21 2>"$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" \
    '[detect]' 'low_threshold.empathy = 0.55' 'behaviors = empathy, greeting' \
    '[program.acme-billing]' 'low_threshold = 0.70' 'capacity = 1'

# The listener: one unix datagram socket, every datagram appended to a file
# line by line, then a "--" line (sd_notify sends one datagram per call).
sock=$work/notify.sock
got=$work/notify.log
: >"$got"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(65536).decode() + "\n--\n")
        out.flush()
' "$sock" "$got" &
listener=$!
pid=
cleanup() {
    kill "$listener" 2>/dev/null || true
    [[ -z $pid ]] || kill -9 "$pid" 2>/dev/null || true
    [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
wait_until 10 test -S "$sock" || fail "the notify listener did not bind $sock"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# count LINE: how many datagram lines equal LINE so far.
count() { grep -cx "$1" "$got" || true; }
seen() { (($(count "$1") >= ${2:-1})); }
consumed_all() { (($(offsets_stored "$schema") >= total)); }
# shellcheck disable=SC2031 # port is set at top level before each run
http_code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$1"; }

# --- Started while PostgreSQL is unreachable: alive, not ready, no READY=1,
# and SIGTERM during the wait is a clean stop.
port=$(free_port)
NOTIFY_SOCKET=$sock WATCHDOG_USEC=2000000 MENTORD_PG="host=127.0.0.1 port=$(free_port) dbname=none" \
    "$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" 2>"$work/nopg.log" &
pid=$!
wait_until 30 grep -qs 'PostgreSQL unreachable' "$work/nopg.log" || fail "no log line about PostgreSQL"
wait_until 10 seen WATCHDOG=1 2 || fail "no WATCHDOG=1 while waiting for PostgreSQL at start"
assert_eq "/healthz while waiting for PostgreSQL at start" 200 "$(http_code healthz)"
assert_eq "/readyz while waiting for PostgreSQL at start" 503 "$(http_code readyz)"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=
assert_eq "exit code after SIGTERM while waiting for PostgreSQL" 0 "$code"
assert_eq "READY=1 never sent without PostgreSQL, STOPPING=1 sent" "0 1" "$(count READY=1) $(count STOPPING=1)"
: >"$got"

# --- A normal run.
port=$(free_port)
started_ms=$(date +%s%3N)
NOTIFY_SOCKET=$sock WATCHDOG_USEC=2000000 "$MENTORD_BIN" --config "$work/run.conf" --http "127.0.0.1:$port" \
    2>"$work/mentord.log" &
pid=$!

wait_until 120 seen READY=1 || fail "no READY=1"
assert_eq "READY=1 sent once the consumer is up" 1 "$(count READY=1)"
wait_until 10 seen WATCHDOG=1 || fail "no WATCHDOG=1"
wait_until 120 consumed_all || fail "did not consume the $total generated messages"
wait_until 10 seen WATCHDOG=1 3 || fail "WATCHDOG=1 not repeated"
# Half of WATCHDOG_USEC is 1 s: never more pings than whole seconds run, plus the first.
pings=$(count WATCHDOG=1)
elapsed_ms=$(($(date +%s%3N) - started_ms))
assert_eq "watchdog pings at most every half interval ($pings in $elapsed_ms ms)" yes \
    "$( ((pings <= elapsed_ms / 1000 + 1)) && echo yes || echo no)"

# --- Reload: RELOADING=1 with a monotonic timestamp, then READY=1 again.
printf '[program.zeta]\nmin_n = 3\n[detect]\nhigh_threshold.empathy = 0.90\nbehaviors = greeting\n' >>"$work/run.conf"
kill -HUP "$pid"
wait_until 20 seen RELOADING=1 || fail "no RELOADING=1 after SIGHUP"
wait_until 20 seen READY=1 2 || fail "no READY=1 after the reload"
assert_eq "RELOADING=1 carries MONOTONIC_USEC" 1 "$(grep -A3 -x RELOADING=1 "$got" | grep -c '^MONOTONIC_USEC=[0-9][0-9]*$')"
assert_eq "READY=1 follows RELOADING=1" "READY=1" \
    "$(sed -n '/^RELOADING=1$/,$p' "$got" | grep -m1 -x 'READY=1' || true)"
wait_until 10 grep -q 'configuration reloaded' "$work/mentord.log" || fail "the reload was not logged"

# --- A broken file is refused on reload; the running configuration stays in force.
cp "$work/run.conf" "$work/run.conf.good"
printf '[log]\nlevel = loud\n' >>"$work/run.conf"
kill -HUP "$pid"
wait_until 20 grep -q 'reload refused' "$work/mentord.log" || fail "an invalid file was not refused"
wait_until 20 seen READY=1 3 || fail "no READY=1 after the refused reload"
assert_eq "alive after a refused reload" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
cp "$work/run.conf.good" "$work/run.conf"

# --- PostgreSQL outage: mentord waits and retries; that is progress, so the
# watchdog keeps being fed, while /readyz says it is not ready.
assert_eq "/readyz before the outage" 200 "$(http_code readyz)"
harness_pg_stop
printf '{"schema":"aqm.v1","event_id":"during-outage","agent_id":"A0001","occurred_at":"2026-10-02T10:00:00Z","overall":70}' \
    >"$work/outage.json"
"$PRODUCE_FILES" "$MENTORD_KAFKA" "$prefix.aqm" A0001 "$work/outage.json"
# A batch's commit or the analytics between batches, whichever reaches PostgreSQL first, finds it gone.
noticed() { grep -qE 'batch not stored|PostgreSQL still unreachable' "$work/mentord.log"; }
wait_until 60 noticed || fail "mentord did not notice the outage"
before=$(count WATCHDOG=1)
wait_until 10 seen WATCHDOG=1 $((before + 3)) || fail "no WATCHDOG=1 while waiting out the outage"
assert_eq "/readyz during the outage" 503 "$(http_code readyz)"
assert_eq "/healthz during the outage" 200 "$(http_code healthz)"
harness_pg_start
wait_until 60 grep -q 'reconnected to PostgreSQL' "$work/mentord.log" || fail "mentord did not reconnect"
outage_stored() { (($(offsets_stored "$schema") >= total + 1)); }
wait_until 60 outage_stored || fail "the message sent during the outage was not stored"
ready_now() { [[ $(http_code readyz) == 200 ]]; }
wait_until 10 ready_now || fail "/readyz not 200 again after the outage"

# --- Stop: STOPPING=1, then a clean exit.
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=
assert_eq "exit code after SIGTERM" 0 "$code"
assert_eq "STOPPING=1 sent" 1 "$(count STOPPING=1)"
assert_eq "nothing after STOPPING=1 but status lines" "" \
    "$(sed -n '/^STOPPING=1$/,$p' "$got" | grep -v -e '^STOPPING=1$' -e '^STATUS=' -e '^--$' || true)"
grep -q '^<[0-7]>' "$work/mentord.log" || fail "log lines lack a journald priority prefix"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
