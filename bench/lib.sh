# shellcheck shell=bash
# Shared by the benchmark scripts in bench/. Each defines log() before sourcing it.

# bench_build_warnings BUILD_DIR WHAT: sets bench_build_type and warns when the build in BUILD_DIR is not
# optimized or has sanitizers on (figures from it would mislead); WHAT names it.
bench_build_warnings() {
    local build_type sanitize
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$1/CMakeCache.txt" 2>/dev/null || true)
    sanitize=$(sed -n 's/^MENTORD_SANITIZE:[A-Z]*=//p' "$1/CMakeCache.txt" 2>/dev/null || true)
    case ${build_type:-none} in
        Release | RelWithDebInfo) ;;
        *) log "warning: $2 is a ${build_type:-default} build; figures are only meaningful for Release or RelWithDebInfo" ;;
    esac
    [[ ${sanitize:-OFF} == OFF ]] || log "warning: $2 has sanitizers on"
    # shellcheck disable=SC2034  # read by the script that sources this
    bench_build_type=${build_type:-default}
}

# bench_workdir: a fresh work directory in $work, and its mktemp suffix, lower-cased,
# in $run_id (fresh topic, group and schema names per run).
bench_workdir() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/mentord-bench.XXXXXX")
    run_id=${work##*.}
    run_id=${run_id,,}
}

# bench_config FILE SCHEMA PREFIX GROUP [INI LINE...]: a mentord configuration
# reading PREFIX.voc, PREFIX.aqm and PREFIX.roster in consumer group GROUP into
# SCHEMA, logging at notice, with the extra lines appended.
bench_config() {
    local file=$1 schema=$2 prefix=$3 group=$4
    shift 4
    {
        printf '[postgres]\nschema = %s\n' "$schema"
        printf '[ingest]\ntopic_voc = %s.voc\ntopic_aqm = %s.aqm\ntopic_roster = %s.roster\n' \
            "$prefix" "$prefix" "$prefix"
        # The corpora have fixed dates, which age: no lower bound on event time (extra lines may set one).
        printf 'max_past_days = 0\n'
        printf '[log]\nlevel = notice\n[kafka]\ngroup.id = %s\n' "$group"
        printf '%s\n' "$@"
    } >"$file"
}

# bench_harness: reuse the harness in MENTORD_PG / MENTORD_KAFKA when both are
# set (own_harness=0), else start one with tests/harness/up (own_harness=1, for
# the caller's cleanup to stop it); exports both and quiet psql notices.
bench_harness() {
    if [[ -n ${MENTORD_PG:-} && -n ${MENTORD_KAFKA:-} ]]; then
        log "using the running harness (PostgreSQL: $MENTORD_PG, Kafka: $MENTORD_KAFKA)"
        own_harness=0
    elif [[ -n ${MENTORD_PG:-} || -n ${MENTORD_KAFKA:-} ]]; then
        log "set both MENTORD_PG and MENTORD_KAFKA, or neither"
        exit 2
    else
        local harness_env
        harness_env=$(tests/harness/up) || exit 1
        eval "$harness_env"
        own_harness=1
    fi
    export MENTORD_PG MENTORD_KAFKA PGOPTIONS="-c client_min_messages=warning"
}
