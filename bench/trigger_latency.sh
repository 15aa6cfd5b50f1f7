#!/bin/bash
# Trigger latency benchmark (issues #3 and #4). With a generated history
# consumed, mentord runs live while bench/live_load produces AQM events at a
# steady rate (default 2,000 events/s) and, interleaved, a run of very low
# empathy scores for a set of target agents until each fires a low_score
# trigger. It prints, from the producer's send of the deciding event:
#   - to the committed `triggers` row (pg_xact_commit_timestamp of its xmin);
#   - to the alert webhook's arrival at a receiver (and trigger row to arrival);
# as n, p50, p90, p99 and max in ms, with the achieved produce rate and a few
# figures that show where the time goes. It prints figures; it never fails on
# a target. With --voc-rate, the load also carries late customer surveys (issue
# #19): that many voc.v1 events a second into the VOC topic, for ordinary
# agents, each dated 0 to --voc-delay-hours hours before its send.
#
# Usage: bench/trigger_latency.sh [--agents N] [--days D] [--rate R] [--duration S]
#                                 [--targets T] [--target-rate X] [--warmup S] [--no-alerts]
#                                 [--voc-rate N] [--voc-delay-hours H] [--lateness S]
#                                 [--aqm-lateness S]
# Uses the harness in MENTORD_PG / MENTORD_KAFKA when both are set (its
# PostgreSQL must run with track_commit_timestamp = on), else starts one with
# tests/harness/up, turns track_commit_timestamp on and stops it at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

agents=200 days=28 rate=2000 duration=60 targets=40 target_rate=2 warmup=5 alerts=1
voc_rate=0 voc_delay_hours=72 lateness="" aqm_lateness=""
usage() {
    echo "usage: bench/trigger_latency.sh [--agents N] [--days D] [--rate R] [--duration S] [--targets T]"
    echo "                                [--target-rate X] [--warmup S] [--no-alerts]"
    echo "                                [--voc-rate N] [--voc-delay-hours H] [--lateness S]"
    echo "                                [--aqm-lateness S]"
    echo "  defaults: 200 agents, 28 days of history, 2000 events/s for 60 s, 40 target agents"
    echo "  sent 2 low empathy scores a second each after a 5 s warm-up, alert webhooks on;"
    echo "  no surveys in the load (--voc-rate N: N a second, dated 0 to H (72) hours back);"
    echo "  [analytics] allowed_lateness_seconds as mentord's default unless --lateness S;"
    echo "  --aqm-lateness S: allowed_lateness_aqm_seconds = S (the evaluations' own)"
}
while (($#)); do
    case $1 in
        --agents) agents=${2:?--agents needs a number}; shift 2 ;;
        --days) days=${2:?--days needs a number}; shift 2 ;;
        --rate) rate=${2:?--rate needs a number}; shift 2 ;;
        --duration) duration=${2:?--duration needs a number}; shift 2 ;;
        --targets) targets=${2:?--targets needs a number}; shift 2 ;;
        --target-rate) target_rate=${2:?--target-rate needs a number}; shift 2 ;;
        --warmup) warmup=${2:?--warmup needs a number}; shift 2 ;;
        --no-alerts) alerts=0; shift ;;
        --voc-rate) voc_rate=${2:?--voc-rate needs a number}; shift 2 ;;
        --voc-delay-hours) voc_delay_hours=${2:?--voc-delay-hours needs a number}; shift 2 ;;
        --lateness) lateness=${2:?--lateness needs a number}; shift 2 ;;
        --aqm-lateness) aqm_lateness=${2:?--aqm-lateness needs a number}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
for v in "$agents" "$days" "$rate" "$duration" "$targets" "$warmup" "$voc_rate" "$voc_delay_hours" ${lateness:+"$lateness"} \
    ${aqm_lateness:+"$aqm_lateness"}; do
    [[ $v =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }
done
[[ $target_rate =~ ^[0-9]+(\.[0-9]+)?$ ]] || { usage >&2; exit 2; }

log() { echo "bench: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

# --- Binaries: build only when missing (live_load is new: build/ may predate it).
if [[ ! -d build ]]; then
    log "no build/: building (RelWithDebInfo)"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc)" --target mentord mentord-gen live_load
fi
mentord=${MENTORD_BIN:-$root/build/daemon/mentord}
gen=${MENTORD_GEN:-$root/build/tools/mentord-gen}
live_load=${LIVE_LOAD:-$root/build/bench/live_load}
if [[ -z ${LIVE_LOAD:-} && ! -x $live_load ]]; then
    log "building live_load in build/"
    cmake -S . -B build >/dev/null
    cmake --build build --target live_load >/dev/null
fi
for bin in "$mentord" "$gen" "$live_load"; do
    [[ -x $bin ]] || { log "$bin is missing: run cmake --build build"; exit 1; }
done
bench_build_warnings "$(dirname "$(dirname "$mentord")")" "$mentord"
build_type=$bench_build_type

# --- Cleanup: stop what we started (by pid), drop our schema, remove the work directory.
bench_workdir
prefix=bench-lat-$run_id
schema=bench_lat_$run_id
group=$prefix
own_harness=0 mentord_pid="" receiver_pid="" schema_made=0
cleanup() {
    local rc=$? p
    trap - EXIT
    for p in "$mentord_pid" "$receiver_pid"; do
        # errexit is still on here: a killed child's status must not end the cleanup.
        if [[ -n $p ]] && kill "$p" 2>/dev/null; then wait "$p" 2>/dev/null || true; fi
    done
    if ((schema_made)); then
        psql "${MENTORD_PG:-}" -XAtq -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 ||
            log "could not drop schema $schema"
    fi
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
    if ((own_harness)); then tests/harness/down "$MENTORD_HARNESS_DIR" || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Harness: reuse the caller's, or start one. Commit times need
# track_commit_timestamp, which only takes effect at a server start.
bench_harness

psql_val() { psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

if [[ $(psql_val "SHOW track_commit_timestamp") != on ]]; then
    if ((!own_harness)); then
        # Restarting someone else's PostgreSQL would break what else runs on it.
        log "this PostgreSQL has track_commit_timestamp off; turn it on and restart it, e.g."
        log "  psql -c 'ALTER SYSTEM SET track_commit_timestamp = on' && (. tests/harness/lib.sh && harness_pg_restart)"
        exit 2
    fi
    # Our own harness: ALTER SYSTEM plus the harness's own restart, no change to up.
    psql_val "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
    # shellcheck source=tests/harness/lib.sh
    (. tests/harness/lib.sh && harness_pg_restart)
    [[ $(psql_val "SHOW track_commit_timestamp") == on ]] || { log "track_commit_timestamp is still off"; exit 1; }
fi

# --- 1. History: the days before today, so every event is in the past
# (the generator's day runs 08:00-18:00 UTC; today's could be in the future).
start_day=$(date -u -d "$days days ago" +%F)
log "generating $agents agents x $days days ($start_day .. yesterday) into $prefix.{voc,aqm,roster}"
"$gen" --brokers "$MENTORD_KAFKA" --agents "$agents" --days "$days" --start "$start_day" --seed 1 \
    --topic-voc "$prefix.voc" --topic-aqm "$prefix.aqm" --topic-roster "$prefix.roster" 2>"$work/gen.log" ||
    { cat "$work/gen.log" >&2; exit 1; }
read -r voc aqm roster < <(sed -n 's/^produced voc=\([0-9]*\) aqm=\([0-9]*\) roster=\([0-9]*\).*/\1 \2 \3/p' "$work/gen.log")
history=$((voc + aqm + roster))
log "produced $history messages (voc $voc, aqm $aqm, roster $roster)"

# --- 2. The webhook receiver, recording when each request arrived. It is
# tests/tools/webhook_receiver.py (signature checks and all) with its handler
# wrapped: that tool records ids, not times.
secret="whsec_$(head -c 24 /dev/urandom | base64)"
printf '%s\n' "$secret" >"$work/lead.secret"
cat >"$work/timed_receiver.py" <<'PY'
# argv: RECEIVER.py TIMES_FILE [receiver options...]; appends "<webhook-id> <received_us> <status>"
# per request, received_us being the wall clock once the request line and headers are read.
import importlib.util, sys, threading, time
spec = importlib.util.spec_from_file_location("webhook_receiver", sys.argv[1])
wr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wr)
times, lock, plain = open(sys.argv[2], "a", buffering=1), threading.Lock(), wr.make_handler

def make_handler(state):
    class Timed(plain(state)):
        def do_POST(self):
            self.received_us, self.code = time.time_ns() // 1000, 0
            super().do_POST()
            with lock:
                times.write(f"{self.headers.get('webhook-id', '-')} {self.received_us} {self.code}\n")

        def send_response(self, code, message=None):
            self.code = code
            super().send_response(code, message)
    return Timed

wr.make_handler = make_handler
sys.argv = [sys.argv[1]] + sys.argv[3:]
sys.exit(wr.main())
PY
if ((alerts)); then
    python3 "$work/timed_receiver.py" "$root/tests/tools/webhook_receiver.py" "$work/received.txt" \
        --port-file "$work/receiver.port" --secret "$secret" --log "$work/receiver.log" >/dev/null 2>&1 &
    receiver_pid=$!
    for _ in $(seq 100); do [[ -s $work/receiver.port ]] && break; sleep 0.1; done
    [[ -s $work/receiver.port ]] || { log "the webhook receiver did not start"; exit 1; }
    receiver_port=$(cat "$work/receiver.port")
fi
touch "$work/received.txt"

# --- 3. mentord, live. Alerts: history alerts (older than 10 min at their
# first send) are recorded, not sent; no per-lead limit, which would hold
# back a lead's alerts in a run that fires dozens within a minute.
bench_config "$work/mentord.conf" "$schema" "$prefix" "$group" "[http]" "listen = off" "[alerts]" \
    "enabled = $( ((alerts)) && echo true || echo false)" "max_age_seconds = 600" "max_per_lead_per_hour = 0" \
    "allow_private = true" "[analytics]" ${lateness:+"allowed_lateness_seconds = $lateness"} \
    ${aqm_lateness:+"allowed_lateness_aqm_seconds = $aqm_lateness"}
log "starting mentord (schema $schema, group $group)"
schema_made=1
t_start=$EPOCHREALTIME
"$mentord" --config "$work/mentord.conf" 2>"$work/mentord.log" &
mentord_pid=$!

mentord_alive() { kill -0 "$mentord_pid" 2>/dev/null || { log "mentord exited; log tail:"; tail -n 20 "$work/mentord.log" >&2; return 1; }; }
stored() { psql_val "SELECT coalesce(sum(greatest(next_offset, 0)), 0) FROM $schema.consumer_offsets WHERE group_id = '$group'" 2>/dev/null || echo 0; }
# wait_stored N TIMEOUT: until mentord has stored offsets past N messages; echoes the seconds it took.
wait_stored() {
    local t0=$EPOCHREALTIME
    until (($(stored) >= $1)); do
        mentord_alive || return 1
        if awk -v a="$t0" -v b="$EPOCHREALTIME" -v t="$2" 'BEGIN { exit !(b - a > t) }'; then
            log "mentord stored $(stored) of $1 messages within $2 s"
            return 1
        fi
        sleep 0.1
    done
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

if ((alerts)); then
    # The default route '*' is created by mentord's migration: every lead's alerts go there.
    for _ in $(seq 300); do
        [[ $(psql_val "SELECT count(*) FROM $schema.team_leads WHERE team_lead_id = '*'" 2>/dev/null) == 1 ]] && break
        mentord_alive
        sleep 0.1
    done
    psql_val "UPDATE $schema.team_leads SET webhook_url = 'http://127.0.0.1:$receiver_port/hook',
                     secret_ref = 'file:$work/lead.secret' WHERE team_lead_id = '*'" >/dev/null
fi
log "waiting for mentord to consume the history"
history_s=$(wait_stored "$history" 600)
# The history's decisions can trail its storage: wait until each source is
# decided up to its watermark (the least newest event time of its partitions
# minus its allowed lateness; the events at it wait for the live load).
voc_late=${lateness:-0} aqm_late=${aqm_lateness:-${lateness:-0}}
decided_sql="SELECT coalesce(s.closed_voc_at >= (SELECT min(max_event_at) FROM $schema.consumer_offsets
                                   WHERE group_id = '$group' AND topic = '$prefix.voc') - $voc_late * interval '1 s'
                     AND s.closed_aqm_at >= (SELECT min(max_event_at) FROM $schema.consumer_offsets
                                   WHERE group_id = '$group' AND topic = '$prefix.aqm') - $aqm_late * interval '1 s',
                     false)
               FROM $schema.analytics_state s WHERE group_id = '$group'"
for _ in $(seq 3000); do
    [[ $(psql_val "$decided_sql") == t ]] && break
    mentord_alive
    sleep 0.1
done
[[ $(psql_val "$decided_sql") == t ]] || { log "the analytics did not decide the history within 300 s"; exit 1; }
log "history stored in $history_s s and decided in $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

# --- 4. Targets: agents status ok in empathy with enough observations to be
# judged, spread over the roster (ordered by a hash, not by id).
target_rows=$(psql_val "SELECT agent_id || ' ' || n || ' ' || round(norm_shrunk::numeric, 3)
                          FROM $schema.agent_behavior_status
                         WHERE behavior = 'empathy' AND status = 'ok' AND n >= 8
                         ORDER BY md5(agent_id) LIMIT $targets")
n_targets=$(grep -c . <<<"$target_rows" || true)
((n_targets > 0)) || { log "no agent is ok in empathy with n >= 8"; exit 1; }
target_list=$(awk '{ print $1 }' <<<"$target_rows" | paste -sd,)
target_info=$(awk 'NR == 1 { lo = hi = $2; slo = shi = $3 }
                   { if ($2 < lo) lo = $2; if ($2 > hi) hi = $2; if ($3 < slo) slo = $3; if ($3 > shi) shi = $3 }
                   END { printf "n %d..%d, normalized shrunk mean %.3f..%.3f", lo, hi, slo, shi }' <<<"$target_rows")
log "$n_targets target agents ($target_info)"

# --- 5. Live load. CPU of mentord and of its PostgreSQL backends over it, from /proc.
# cpu_ticks PID...: their utime + stime in clock ticks.
cpu_ticks() {
    local p
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '{ s += $14 + $15 } END { print s + 0 }'
}
# share T0 T1 TICKS0 TICKS1: CPU seconds between two samples, and the share of one CPU.
share() {
    awk -v s0="$1" -v s1="$2" -v a="$3" -v b="$4" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f s (%.0f%% of one CPU)", (b - a) / hz, 100 * (b - a) / hz / (s1 - s0) }'
}
read -ra pg_pids <<<"$(psql_val "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
                                 WHERE application_name = 'mentord' AND datname = current_database()")"
log "live load: $rate events/s for $duration s into $prefix.aqm$( ((voc_rate)) &&
    echo ", $voc_rate surveys/s dated 0 to $voc_delay_hours h back into $prefix.voc")"
t0=$EPOCHREALTIME m0=$(cpu_ticks "$mentord_pid") p0=$(cpu_ticks "${pg_pids[@]}")
"$live_load" --brokers "$MENTORD_KAFKA" --topic "$prefix.aqm" --agents "$agents" --rate "$rate" \
    --duration "$duration" --warmup "$warmup" --target-rate "$target_rate" --targets "$target_list" \
    --run-id "$run_id" --csv "$work/low.csv" --voc-topic "$prefix.voc" --voc-rate "$voc_rate" \
    --voc-delay-hours "$voc_delay_hours" >"$work/load.out" 2>"$work/load.err" ||
    { cat "$work/load.out" "$work/load.err" >&2; exit 1; }
t1=$EPOCHREALTIME m1=$(cpu_ticks "$mentord_pid") p1=$(cpu_ticks "${pg_pids[@]}")
read -r sent surveys < <(sed -n 's/^sent=\([0-9]*\) low=[0-9]* surveys=\([0-9]*\) .*/\1 \2/p' "$work/load.out")
cpu_line="mentord $(share "$t0" "$t1" "$m0" "$m1"), its ${#pg_pids[@]} PostgreSQL backends $(share "$t0" "$t1" "$p0" "$p1")"
mentord_alive

# --- 6. Let mentord store the rest and the sender deliver, then stop it.
catchup_s=$(wait_stored "$((history + sent + surveys))" 900)
if ((alerts)); then
    for _ in $(seq 300); do
        (($(psql_val "SELECT count(*) FROM $schema.alerts WHERE status = 'pending' AND kind = 'low_score_trigger'
                        AND occurred_at > now() - interval '1 hour'") == 0)) && break
        sleep 0.1
    done
fi
kill -TERM "$mentord_pid"
status=0
wait "$mentord_pid" || status=$?
mentord_pid=""
((status == 0)) || log "mentord exited with status $status on SIGTERM; log tail: $(tail -n 5 "$work/mentord.log")"

# --- 7. Figures, in one session: the CSV and the receive times in temporary tables.
read -r load_avg _ </proc/loadavg
rate_line=$(head -n 1 "$work/load.out")
if [[ -n $lateness ]]; then
    lateness_line="allowed_lateness_seconds = $lateness"
else
    # The shipped configuration holds every default (docs/man/mentord.conf.5).
    lateness_line="allowed_lateness_seconds = $(sed -n 's/^allowed_lateness_seconds *= *//p' config/mentord.conf) (the default)"
fi
[[ -z $aqm_lateness ]] || lateness_line+=", allowed_lateness_aqm_seconds = $aqm_lateness"
if ((voc_rate)); then
    voc_line="late surveys: $voc_rate voc.v1 events/s into $prefix.voc for ordinary agents, dated 0 to $voc_delay_hours h back; $lateness_line"
else
    voc_line="late surveys: none (--voc-rate 0); $lateness_line"
fi
echo "mentord trigger latency benchmark: $agents agents, $days days of history ($history messages), live load into $prefix.aqm$( ((voc_rate)) && echo " and $prefix.voc")"
echo "build ${build_type:-default}, $(nproc) CPUs, load average $load_avg at the end"
echo "$rate_line"
echo "$voc_line"
echo "history stored in $history_s s; after the load mentord needed $catchup_s s more to store every event"
echo "CPU during the load: $cpu_line"
echo "targets: $n_targets agents ok in empathy ($target_info), $target_rate low events/s each after ${warmup} s"
psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 <<SQL
SET search_path = $schema;
CREATE TEMP TABLE low (event_id text PRIMARY KEY, agent_id text, send_us bigint, ack_us bigint);
\\copy low FROM '$work/low.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE received (alert_id text, received_us bigint, code int);
\\copy received FROM '$work/received.txt' WITH (FORMAT text, DELIMITER ' ')
-- Microseconds since the epoch, the producer's unit.
CREATE FUNCTION pg_temp.us(t timestamptz) RETURNS double precision
    LANGUAGE sql IMMUTABLE AS \$\$ SELECT extract(epoch FROM t)::double precision * 1e6 \$\$;
CREATE FUNCTION pg_temp.summary(label text, ms double precision[]) RETURNS text LANGUAGE sql AS \$\$
    SELECT format('%-50s n %5s   p50 %8s   p90 %8s   p99 %8s   max %8s ms', label, count(v),
                  coalesce(round(percentile_cont(0.50) WITHIN GROUP (ORDER BY v)::numeric, 1)::text, 'n/a'),
                  coalesce(round(percentile_cont(0.90) WITHIN GROUP (ORDER BY v)::numeric, 1)::text, 'n/a'),
                  coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY v)::numeric, 1)::text, 'n/a'),
                  coalesce(round(max(v)::numeric, 1)::text, 'n/a'))
      FROM unnest(ms) v \$\$;
-- The deciding events: a low_score trigger whose event is one of ours.
CREATE TEMP TABLE fired AS
SELECT t.trigger_id, t.agent_id, t.status, l.send_us, l.ack_us,
       pg_temp.us(pg_xact_commit_timestamp(t.xmin)) AS trigger_us,
       pg_temp.us(pg_xact_commit_timestamp(s.xmin)) AS stored_us,
       t.xmin = s.xmin AS same_tx,
       (SELECT min(r.received_us) FROM received r
         WHERE r.alert_id = 'low_score_trigger:' || t.trigger_id AND r.code BETWEEN 200 AND 299) AS received_us
  FROM triggers t JOIN low l USING (event_id) JOIN score_events s USING (event_id)
 WHERE t.kind = 'low_score' AND t.behavior = 'empathy';
SELECT format('triggers: %s of %s target agents fired (%s low events sent, %s stored); %s decided in the '
              'transaction that stored their event; %s trigger rows no longer open (their xmin may be a later update)',
              (SELECT count(DISTINCT agent_id) FROM fired), (SELECT count(DISTINCT agent_id) FROM low),
              (SELECT count(*) FROM low), (SELECT count(*) FROM low JOIN score_events USING (event_id)),
              (SELECT count(*) FROM fired WHERE same_tx), (SELECT count(*) FROM fired WHERE status <> 'open'));
SELECT format('surveys: %s sent, %s stored; %s messages of $prefix.voc rejected', $surveys,
              (SELECT count(*) FROM score_events WHERE event_id LIKE 'lv-$run_id-%'),
              (SELECT count(*) FROM rejected_events WHERE topic = '$prefix.voc'))
 WHERE $voc_rate > 0;
SELECT pg_temp.summary('send -> triggers row committed', array_agg((trigger_us - send_us) / 1000)) FROM fired;
SELECT pg_temp.summary('  of it: send -> broker ack (deciding events)', array_agg((ack_us - send_us) / 1000))
  FROM fired WHERE ack_us > 0;
SELECT pg_temp.summary('  of it: send -> its score_events row committed', array_agg((stored_us - send_us) / 1000))
  FROM fired;
SELECT pg_temp.summary('every low event: send -> score_events committed', array_agg((pg_temp.us(pg_xact_commit_timestamp(s.xmin)) - l.send_us) / 1000))
  FROM low l JOIN score_events s USING (event_id);
SELECT format('alerts (low_score_trigger of these triggers): %s', coalesce(string_agg(status || ' ' || n, ', '), 'none'))
  FROM (SELECT a.status, count(*) n FROM alerts a JOIN fired f ON a.alert_id = 'low_score_trigger:' || f.trigger_id
         GROUP BY 1 ORDER BY 1) x;
SELECT pg_temp.summary('send -> webhook received', array_agg((received_us - send_us) / 1000))
  FROM fired WHERE received_us IS NOT NULL;
SELECT pg_temp.summary('triggers row committed -> webhook received', array_agg((received_us - trigger_us) / 1000))
  FROM fired WHERE received_us IS NOT NULL;
-- Every live event: its occurred_at is its send time. Per 10 s of the load,
-- how long it took to be stored, and in how many transactions (batches).
SELECT format('  events sent in [%3s s, %3s s) of the load: %6s in %5s batches (%5s per batch), send -> stored p50 %9s ms, max %9s ms',
              b * 10, b * 10 + 10, count(*), count(DISTINCT tx), round(count(*)::numeric / count(DISTINCT tx), 1),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1))
  FROM (SELECT floor((pg_temp.us(occurred_at) - min(pg_temp.us(occurred_at)) OVER ()) / 1e7)::int AS b, xmin::text AS tx,
               (pg_temp.us(pg_xact_commit_timestamp(xmin)) - pg_temp.us(occurred_at)) / 1000 AS ms
          FROM score_events WHERE event_id LIKE 'll-$run_id-%') x
 GROUP BY b ORDER BY b;
SQL
