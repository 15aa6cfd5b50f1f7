# shellcheck shell=bash
# Sourced by tests (and by up/down): control the harness's private PostgreSQL
# and Kafka broker.
# Every function reads MENTORD_HARNESS_DIR (set by `eval "$(tests/harness/up)"`)
# and runs in a subshell, so it changes nothing in the caller's shell.

HARNESS_PGBIN=${HARNESS_PGBIN:-/usr/lib/postgresql/15/bin}

# Run a command as the owner of the cluster: mentord-test when up ran as root
# (PostgreSQL refuses to run as root), else the caller itself.
_harness_as_pg() {
    local owner
    owner=$(stat -c %U "$MENTORD_HARNESS_DIR/pg") || return
    # cd: the cluster owner may not be allowed into the caller's cwd.
    if [[ $owner == "$(id -un)" ]]; then
        (cd "$MENTORD_HARNESS_DIR" && "$@")
    else
        (cd "$MENTORD_HARNESS_DIR" && runuser -u "$owner" -- "$@")
    fi
}

# Replace the "<name> <pid>" line of the pids file.
_harness_record_pid() {
    local f=$MENTORD_HARNESS_DIR/pids
    { grep -v "^$1 " "$f" 2>/dev/null || true; echo "$1 $2"; } >"$f.new" && mv "$f.new" "$f"
}

# Poll pg_isready (short waits, at most ~30 s) rather than sleeping blindly.
_harness_pg_wait() (
    port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$MENTORD_HARNESS_DIR/pg/data/postgresql.conf" | tail -n 1)
    for _ in $(seq 150); do
        "$HARNESS_PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d mentord -U mentord && exit 0
        sleep 0.2
    done
    echo "harness: PostgreSQL not ready after 30 s; log tail:" >&2
    tail -n 20 "$MENTORD_HARNESS_DIR/pg/postgres.log" >&2
    exit 1
)

_harness_pg_ctl() {
    _harness_as_pg "$HARNESS_PGBIN/pg_ctl" -D "$MENTORD_HARNESS_DIR/pg/data" \
        -l "$MENTORD_HARNESS_DIR/pg/postgres.log" -s -w -t 30 "$@" </dev/null >&2
}

harness_pg_start() (
    _harness_pg_ctl start && _harness_pg_wait &&
        _harness_record_pid postgres "$(head -n 1 "$MENTORD_HARNESS_DIR/pg/data/postmaster.pid")"
)

harness_pg_stop() (
    _harness_pg_ctl stop -m fast
)

harness_pg_restart() (
    _harness_pg_ctl restart -m fast && _harness_pg_wait &&
        _harness_record_pid postgres "$(head -n 1 "$MENTORD_HARNESS_DIR/pg/data/postmaster.pid")"
)

# harness_pg_fsync on|off: make PostgreSQL durable (fsync, synchronous_commit
# and full_page_writes on, through ALTER SYSTEM, so it lasts across restarts)
# or back to the harness's default, all off. Returns once a new session sees it.
harness_pg_fsync() (
    case $1 in
    on) sql="ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET synchronous_commit = on;
             ALTER SYSTEM SET full_page_writes = on" ;;
    off) sql="ALTER SYSTEM RESET fsync; ALTER SYSTEM RESET synchronous_commit; ALTER SYSTEM RESET full_page_writes" ;;
    *) echo "harness: harness_pg_fsync on|off, not '$1'" >&2; exit 2 ;;
    esac
    port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$MENTORD_HARNESS_DIR/pg/data/postgresql.conf" | tail -n 1)
    pg() { psql -h 127.0.0.1 -p "$port" -d mentord -U mentord -XAtq -v ON_ERROR_STOP=1 "$@"; }
    # ALTER SYSTEM cannot run in a transaction block: one statement per -c.
    while IFS= read -r statement; do
        pg -c "$statement" >/dev/null || exit 1
    done < <(tr ';' '\n' <<<"$sql" | sed 's/^ *//; /^$/d')
    pg -c "SELECT pg_reload_conf()" >/dev/null || exit 1
    for _ in $(seq 150); do
        [[ $(pg -c "SHOW fsync" -c "SHOW synchronous_commit" -c "SHOW full_page_writes" | sort -u) == "$1" ]] && exit 0
        sleep 0.2
    done
    echo "harness: PostgreSQL did not take fsync = $1 in 30 s" >&2
    exit 1
)

# harness_pg_kill: SIGKILL the postmaster and every one of its processes at
# once (a crash: no shutdown checkpoint, shared memory lost), and wait until
# they are gone. harness_pg_start then runs crash recovery.
harness_pg_kill() (
    postmaster=$(head -n 1 "$MENTORD_HARNESS_DIR/pg/data/postmaster.pid" 2>/dev/null) || exit 1
    mapfile -t children < <(ps -o pid= --ppid "$postmaster" | tr -d ' ')
    kill -KILL "$postmaster" "${children[@]}" 2>/dev/null
    for _ in $(seq 150); do
        alive=0
        for pid in "$postmaster" "${children[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || exit 0
        sleep 0.2
    done
    echo "harness: PostgreSQL (postmaster $postmaster) still runs 30 s after SIGKILL" >&2
    exit 1
)

# Start the broker with the command up wrote, detached from the caller's
# terminal and output, and record its pid.
harness_kafka_launch() (
    setsid "$MENTORD_HARNESS_DIR/kafka/run" </dev/null >>"$MENTORD_HARNESS_DIR/kafka.log" 2>&1 &
    _harness_record_pid kafka $!
)

# Poll (at most 90 s) until the broker answers a metadata request.
harness_kafka_wait() (
    port=$(sed -n 's/^listeners=PLAINTEXT:[^:]*:\([0-9]*\),.*/\1/p' "$MENTORD_HARNESS_DIR/kafka/server.properties")
    pid=$(awk '$1 == "kafka" { print $2 }' "$MENTORD_HARNESS_DIR/pids")
    deadline=$((SECONDS + 90))
    until kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null | grep -q "broker 1 at"; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
            echo "harness: Kafka did not become ready; tail of $MENTORD_HARNESS_DIR/kafka.log:" >&2
            tail -n 30 "$MENTORD_HARNESS_DIR/kafka.log" >&2
            exit 1
        fi
        sleep 0.5
    done
)

# Stop the broker (SIGTERM, a controlled shutdown) and wait until it is gone;
# its data, ports and cluster id stay for harness_kafka_start.
harness_kafka_stop() (
    pid=$(awk '$1 == "kafka" { print $2 }' "$MENTORD_HARNESS_DIR/pids")
    kill -TERM "$pid" 2>/dev/null || exit 0
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.2
    done
    echo "harness: Kafka (pid $pid) did not stop in 60 s" >&2
    exit 1
)

harness_kafka_start() { harness_kafka_launch && harness_kafka_wait; }
