# shellcheck shell=bash
# Shared by the integration tests. They run against the harness's real
# PostgreSQL and Kafka (MENTORD_PG, MENTORD_KAFKA from tests/harness/up) and
# the binaries CMake passes in MENTORD_BIN and MENTORD_GEN. Each test uses its
# own topics, consumer group and schema, so tests share one harness.
set -euo pipefail

: "${MENTORD_PG:?run under tests/harness/up (MENTORD_PG unset)}"
: "${MENTORD_KAFKA:?run under tests/harness/up (MENTORD_KAFKA unset)}"
: "${MENTORD_BIN:?MENTORD_BIN unset}"
: "${MENTORD_GEN:?MENTORD_GEN unset}"
: "${PRODUCE_FILES:?PRODUCE_FILES unset}"

export PGOPTIONS="-c client_min_messages=warning"
work=$(mktemp -d "${TMPDIR:-/tmp}/mentord-it.XXXXXX")
# KEEP_WORK=1 keeps the test's files (logs, configs) for a look after a failure.
trap '[[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
# A name unique to this run, so topics and groups never collide with earlier runs.
run_id=$(basename "$work" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')

failures=0
checks=0

# fail_note (chaos_seed sets it) is added to every failure: what repeats the run.
fail() { echo "FAIL: $*${fail_note:+ ($fail_note)}" >&2; failures=$((failures + 1)); }

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    checks=$((checks + 1))
    if [[ $2 == "$3" ]]; then echo "ok: $1 = $3"; else fail "$1: expected '$2', got '$3'"; fi
}

# The plain closing line CI reads; exits non-zero on any failure.
finish() {
    echo "$((checks - failures)) passed, $failures failed"
    ((failures == 0))
}

# psql_val SCHEMA SQL: one value, unaligned.
psql_val() { psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "SET search_path = $1" -c "$2"; }

# write_config FILE SCHEMA PREFIX GROUP [extra ini lines...]: read topics PREFIX.voc,
# PREFIX.aqm and PREFIX.roster in consumer group GROUP into SCHEMA.
write_config() {
    local file=$1 schema=$2 prefix=$3 group=$4
    shift 4
    {
        printf '[postgres]\nschema = %s\n' "$schema"
        printf '[ingest]\ntopic_voc = %s.voc\ntopic_aqm = %s.aqm\ntopic_roster = %s.roster\n' \
            "$prefix" "$prefix" "$prefix"
        # The corpora have fixed dates, which age: no lower bound on event time (extra lines may set one).
        printf 'max_past_days = 0\n'
        printf '[kafka]\ngroup.id = %s\n' "$group"
        printf '%s\n' "$@"
    } >"$file"
}

# generate PREFIX [generator options...]: produce a generated center to PREFIX.* topics.
generate() {
    local prefix=$1
    shift
    "$MENTORD_GEN" --brokers "$MENTORD_KAFKA" --topic-voc "$prefix.voc" --topic-aqm "$prefix.aqm" \
        --topic-roster "$prefix.roster" "$@"
}

# generated_counts LOG: "voc aqm roster duplicates" from mentord-gen's closing line
# (voc and aqm count every message sent, repeats included).
generated_counts() {
    sed -n 's/.*produced voc=\([0-9]*\) aqm=\([0-9]*\) roster=\([0-9]*\) duplicates=\([0-9]*\).*/\1 \2 \3 \4/p' "$1"
}

# migrate_schema SCHEMA: creates SCHEMA's tables before a test changes them
# (a trigger, say): mentord runs over topics nobody writes to until it says the
# schema is ready, and is stopped.
migrate_schema() {
    local migrating=$1 pid
    write_config "$work/migrate-$migrating.conf" "$migrating" "migrate-$run_id-none" "migrate-$run_id-none"
    "$MENTORD_BIN" --config "$work/migrate-$migrating.conf" --http off 2>"$work/migrate-$migrating.log" &
    pid=$!
    # Called by wait_until from here: it sees this function's locals.
    schema_ready() { grep -q "PostgreSQL schema $migrating ready" "$work/migrate-$migrating.log"; }
    wait_until 60 schema_ready || fail "the schema $migrating was not migrated"
    kill -TERM "$pid"
    wait "$pid" || fail "the run migrating $migrating did not stop cleanly"
}

# drain CONFIG: run mentord until every partition is consumed and stored.
drain() { "$MENTORD_BIN" --config "$1" --exit-at-end; }

# table_digest SCHEMA (digest.sh, shared with bench/ingest.sh).
# shellcheck source=digest.sh
. "$(dirname "${BASH_SOURCE[0]}")/digest.sh"

# table_digest_without_offsets SCHEMA: table_digest but consumer_offsets, for a
# run that read messages (resends) another run being compared did not.
table_digest_without_offsets() { table_digest "$1" | grep -v '^consumer_offsets '; }

# ingest_digest SCHEMA: table_digest of the tables the ingest writes (what
# came in and where each partition stands), without the analytics'.
ingest_digest() { table_digest "$1" | grep -E '^(score_events|agent_daily|agents|rejected_events|metrics|consumer_offsets) '; }

# offsets_stored SCHEMA: sum of the stored next offsets (progress of a running drain).
offsets_stored() { psql_val "$1" "SELECT coalesce(sum(greatest(next_offset, 0)), 0) FROM consumer_offsets" 2>/dev/null || echo 0; }

# wait_until TIMEOUT_S COMMAND...: poll a condition every 50 ms; false on timeout,
# or at once if the process whose pid is in $wait_alive (when set) has exited.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        if [[ -n ${wait_alive:-} ]] && ! kill -0 "$wait_alive" 2>/dev/null; then
            echo "process $wait_alive is gone; not waiting for: $*" >&2
            return 1
        fi
        sleep 0.05
    done
}

# --- Chaos tests: seeded random faults, several instances told apart in PostgreSQL.

# chaos_seed: seeds bash's RANDOM with MENTORD_CHAOS_SEED, or a fresh seed, prints
# it, and names it in every failure: the same seed makes the same random choices.
chaos_seed() {
    chaos_seed=${MENTORD_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    RANDOM=$chaos_seed
    fail_note="seed $chaos_seed: MENTORD_CHAOS_SEED=$chaos_seed repeats it"
    echo "chaos seed $chaos_seed (MENTORD_CHAOS_SEED=$chaos_seed repeats this run's choices)"
}

# The chaos tests' *_late variants set MENTORD_CHAOS_LATE="VOC_HOURS AQM_HOURS
# [VOC_LATENESS_SECONDS [AQM_LATENESS_SECONDS]]": surveys and evaluations
# arrive up to that many hours late, and mentord allows surveys and
# evaluations that lateness (default 0; the evaluations' default: the surveys').
# arrival_options: mentord-gen's options for it, one a line (none without it).
arrival_options() {
    local voc aqm
    [[ -n ${MENTORD_CHAOS_LATE:-} ]] || return 0
    read -r voc aqm _ <<<"$MENTORD_CHAOS_LATE"
    printf '%s\n' --voc-delay-hours "$voc" --aqm-delay-hours "$aqm"
}

# lateness_config: write_config's extra lines for it, one a line (none without it).
lateness_config() {
    local voc aqm
    read -r _ _ voc aqm <<<"${MENTORD_CHAOS_LATE:-}"
    [[ -n $voc ]] || return 0
    printf '%s\n' "[analytics]" "allowed_lateness_seconds = $voc"
    [[ -z $aqm ]] || printf '%s\n' "allowed_lateness_aqm_seconds = $aqm"
}

# random_between VAR LOW HIGH: VAR = an integer in LOW..HIGH from the seeded
# RANDOM (set in this shell, not in a $(...) subshell, so the sequence follows the seed).
random_between() {
    printf -v "$1" '%d' $(($2 + ((RANDOM << 15) | RANDOM) % ($3 - $2 + 1)))
}

# sleep_ms MS: a random delay drawn by the test (its input, not a wait for a condition).
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# start_instance NAME CONFIG [mentord options...]: mentord in the background,
# logging to $work/NAME.log (appended), its PostgreSQL sessions named NAME
# (application_name, for instance_state and decider_of); its pid in $instance_pid.
start_instance() {
    local name=$1 config=$2
    shift 2
    MENTORD_PG="$MENTORD_PG application_name=$name" "$MENTORD_BIN" --config "$config" "$@" \
        2>>"$work/$name.log" &
    instance_pid=$!
}

# wait_instance VAR PID NAME TIMEOUT_S: waits for instance NAME (PID, from
# start_instance) to exit and sets VAR to its exit code. If it still runs after
# TIMEOUT_S, prints what it is doing (instance_report), kills it and sets VAR to
# 124: a stuck instance fails the test with its cause, not at ctest's timeout.
wait_instance() {
    local -n exit_code=$1
    local pid=$2 name=$3 stuck=0
    if ! wait_until "$4" not_running "$pid"; then
        echo "$name (pid $pid) still runs after $4 s" >&2
        instance_report "$pid" "$name"
        kill -9 "$pid" 2>/dev/null
        stuck=1
    fi
    exit_code=0
    wait "$pid" 2>/dev/null || exit_code=$?
    ((stuck == 0)) || exit_code=124
}

not_running() { ! kill -0 "$1" 2>/dev/null; }

# instance_report PID NAME: what instance NAME is doing, on stderr: its threads
# (name, state, kernel wait; with gdb, their stacks), its PostgreSQL sessions
# and the end of its log.
instance_report() {
    local pid=$1 name=$2 task
    echo "== its threads (name, state, kernel wait):" >&2
    for task in /proc/"$pid"/task/*; do
        echo "   $(cat "$task/comm" 2>/dev/null) $(cut -d' ' -f3 "$task/stat" 2>/dev/null)" \
            "$(cat "$task/wchan" 2>/dev/null)" >&2
    done
    if command -v gdb >/dev/null; then
        gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 | grep -E '^(#|Thread)' >&2
    fi
    echo "== its PostgreSQL sessions (state, wait, query):" >&2
    psql_val public "SELECT state, wait_event_type, wait_event, left(query, 100) FROM pg_stat_activity
                     WHERE application_name = '$name'" >&2
    echo "== the end of its log:" >&2
    tail -n 40 "$work/$name.log" >&2
}

# instance_sessions NAME: the states of instance NAME's PostgreSQL sessions
# (pg_stat_activity.state: idle, active, idle in transaction...), one a line.
instance_sessions() {
    psql_val public "SELECT state FROM pg_stat_activity WHERE application_name = '$1' ORDER BY state"
}

# decider_of SCHEMA GROUP [PROGRAM]: the application_name of the session
# holding the analytics lock of the group's program (lib/decider.c; default:
# the program 'default'), empty if nobody holds it.
decider_of() {
    psql_val "$1" "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                      AND (l.classid::bigint << 32 | l.objid::bigint)
                          = hashtext('mentord.analytics.' || current_schema() || '.' || '$2' || '.'
                                     || '${3:-default}')::bigint"
}

# fenced_batches LOG: the fenced count of the last "stopped:" line of a mentord log (empty if none).
fenced_batches() { sed -n 's/.*stopped: .*, fenced \([0-9]*\),.*/\1/p' "$1" | tail -n 1; }

# drop_schemas SCHEMA...: drops a test's schemas at its end; with KEEP_WORK set
# they stay too (named here), to look into a failure next to its logs.
drop_schemas() {
    if [[ -n ${KEEP_WORK:-} ]]; then
        echo "kept (KEEP_WORK): $work and schemas $*"
        return
    fi
    psql_val public "$(printf 'DROP SCHEMA %s CASCADE;' "$@")" >/dev/null
}
