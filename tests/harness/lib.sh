# shellcheck shell=bash
# Sourced by tests (and by up/down): control the harness's private PostgreSQL.
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
