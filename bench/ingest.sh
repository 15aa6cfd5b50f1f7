#!/bin/bash
# Ingest benchmark. On one generated topic set (default ~1.0M messages) it
# prints mentord's drain rate into PostgreSQL with the analytics off (the
# ingest) and its peak RSS, the rate of a raw kcat consume of the same
# topics, the rate of a COPY of the same rows, the ingest's ratio to the
# slower of the two; then the drain with the analytics on, its ratio to the
# ingest and its peak RSS, in the first quarter of the run and in a second
# run with a quarter of the events. With --baseline BIN, the drain with the
# analytics runs again with that mentord binary on the same topics (say, a
# build of an earlier commit): its figures are printed beside the others,
# with both drains' table digests and whether they are identical.
# With --batch N every drain runs with [ingest] batch_max_events = N (2000
# is a batch under live load). With --repeats PCT, a copy of the topics
# where PCT% of the AQM and VOC messages come again about 5,000 messages of
# their partition later (a producer's retries: repeats of events stored by
# an earlier batch) is drained with the analytics too: both drains' events/s
# and their ratio, then both again at two more fetch sizes (how the fetches
# interleave the partitions sets how often the watermark moves, which a 1%
# longer partition changes too) and the ratio over the three, and whether
# their tables are identical. With --programs N (N > 1), the same center is
# generated as N client programs, each with its own --program, seed, skill
# shift and a contiguous share of the agents, merged by event time into one
# topic set (about as many messages), and drained with the analytics: its
# events/s beside the single-program drain's, and their ratio.
# It prints figures and targets; it never fails on a target.
#
# Usage: bench/ingest.sh [--agents N] [--days D] [--baseline BIN] [--batch N] [--repeats PCT] [--programs N]
# Uses the harness in MENTORD_PG / MENTORD_KAFKA when both are set, else
# starts one with tests/harness/up and stops it at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

agents=8000
days=30
baseline=
batch=
repeats=
programs=1
# Fetch sizes of the repeats' extra drains (librdkafka's default, 1048576, is the first drain's).
fetch_sizes=(1000000 500000)
usage() {
    echo "usage: bench/ingest.sh [--agents N] [--days D] [--baseline BIN] [--batch N] [--repeats PCT] [--programs N]"
    echo "       (default 8000 agents, 30 days: ~1.0M events; default batching; no repeats; 1 program)"
}
while (($#)); do
    case $1 in
        --agents) agents=${2:?--agents needs a number}; shift 2 ;;
        --days) days=${2:?--days needs a number}; shift 2 ;;
        --baseline) baseline=${2:?--baseline needs a mentord binary}; shift 2 ;;
        --batch) batch=${2:?--batch needs a number}; shift 2 ;;
        --repeats) repeats=${2:?--repeats needs a percentage}; shift 2 ;;
        --programs) programs=${2:?--programs needs a number}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $agents =~ ^[1-9][0-9]*$ && $days =~ ^[1-9][0-9]*$ ]] || { usage >&2; exit 2; }
[[ -z $batch || $batch =~ ^[1-9][0-9]*$ ]] || { usage >&2; exit 2; }
[[ -z $repeats || ($repeats =~ ^[1-9][0-9]?$ && $repeats -le 50) ]] || { echo "bench: --repeats takes 1 to 50 (%)" >&2; exit 2; }
[[ $programs =~ ^[1-9][0-9]?$ && $programs -le 50 && $programs -le $agents ]] ||
    { echo "bench: --programs takes 1 to 50, and at most one per agent" >&2; exit 2; }
[[ -z $baseline || -x $baseline ]] || { echo "bench: --baseline $baseline is not an executable" >&2; exit 2; }
small_days=$(((days + 3) / 4))

log() { echo "bench: $*" >&2; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# shellcheck source=tests/integration/digest.sh
. "$root/tests/integration/digest.sh"

# --- Binaries: build only when there is no build tree.
if [[ ! -d build ]]; then
    log "no build/: building (RelWithDebInfo)"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc)" --target mentord mentord-gen
fi
mentord=${MENTORD_BIN:-$root/build/daemon/mentord}
gen=${MENTORD_GEN:-$root/build/tools/mentord-gen}
for bin in "$mentord" "$gen"; do
    [[ -x $bin ]] || { log "$bin is missing: run cmake --build build"; exit 1; }
done
bench_build_warnings build build/
build_type=$bench_build_type

# --- Cleanup: drop our schemas, remove the work directory, stop our harness.
bench_workdir
schemas=()
own_harness=0
cleanup() {
    local rc=$? s
    trap - EXIT
    for s in "${schemas[@]}"; do
        psql "${MENTORD_PG:-}" -XAtq -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 ||
            log "could not drop schema $s"
    done
    rm -rf "$work"
    if ((own_harness)); then tests/harness/down "$MENTORD_HARNESS_DIR" || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Harness: reuse the caller's, or start one.
bench_harness

psql_val() { psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# measure OUT COMMAND...: run COMMAND and write "wall_s maxrss_kb cpu_s status
# early_kb pg_cpu_s pg_busiest_s" to OUT. maxrss comes from getrusage of the
# child (no GNU time needed) and the child's VmHWM sampled every 0.25 s;
# early_kb is that VmHWM in the first quarter of its wall time. pg_cpu_s is
# the CPU time every local "postgres" process used meanwhile, pg_busiest_s
# that of the busiest one (mentord's backend), both sampled every 0.25 s
# from /proc (a process that exits loses up to 0.25 s; 0 when PostgreSQL
# runs on another machine).
measure() {
    local out=$1
    shift
    python3 -c '
import os, resource, subprocess, sys, time
tick = os.sysconf("SC_CLK_TCK")
def postgres_cpu():
    cpu = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                comm, rest = f.read().split(") ", 1)
            if comm.endswith("(postgres"):
                fields = rest.split()
                cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError):
            pass
    return cpu
pg_before = postgres_cpu()
pg_last = {}
t0 = time.monotonic()
child = subprocess.Popen(sys.argv[2:])
samples = []
while True:
    try:
        with open(f"/proc/{child.pid}/status") as f:
            hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")]
        if hwm:
            samples.append((time.monotonic() - t0, hwm[0]))
    except OSError:
        pass
    pg_last.update(postgres_cpu())
    try:
        status = child.wait(timeout=0.25)
        break
    except subprocess.TimeoutExpired:
        pass
wall = time.monotonic() - t0
early = [kb for t, kb in samples if t <= wall / 4]
early = max(early) if len(early) >= 4 else 0  # 0: run too short to tell
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
# The kernel syncs its RSS counters lazily: keep the larger of the two readings.
peak = max([ru.ru_maxrss] + [kb for t, kb in samples])
pg_used = [cpu - pg_before.get(pid, 0) for pid, cpu in pg_last.items()]
pg_cpu, pg_busiest = sum(pg_used), max(pg_used, default=0)
with open(sys.argv[1], "w") as f:
    print(f"{wall:.3f} {peak} {ru.ru_utime + ru.ru_stime:.2f} {status} {early} {pg_cpu:.2f} {pg_busiest:.2f}", file=f)
' "$out" "$@"
}

# generate PREFIX DAYS [OPTION...]: produce a center to PREFIX.{voc,aqm,roster}, with mentord-gen
# options after the defaults (a later option wins: --agents, --seed); echoes "voc aqm roster".
generate() {
    "$gen" --brokers "$MENTORD_KAFKA" --agents "$agents" --days "$2" --seed 1 \
        --topic-voc "$1.voc" --topic-aqm "$1.aqm" --topic-roster "$1.roster" "${@:3}" 2>"$work/gen.log" ||
        { cat "$work/gen.log" >&2; return 1; }
    sed -n 's/^produced voc=\([0-9]*\) aqm=\([0-9]*\) roster=\([0-9]*\).*/\1 \2 \3/p' "$work/gen.log"
}

# drain PREFIX SCHEMA [INI LINE...]: mentord --exit-at-end over PREFIX.*; leaves figures in $work/SCHEMA.m.
drain() {
    local prefix=$1 schema=$2
    shift 2
    schemas+=("$schema")
    bench_config "$work/$schema.conf" "$schema" "$prefix" "$prefix-$schema" "$@" ${batch:+"[ingest]" "batch_max_events = $batch"}
    measure "$work/$schema.m" "$mentord" --config "$work/$schema.conf" --exit-at-end 2>"$work/$schema.log"
    read -r _ _ _ status _ _ _ <"$work/$schema.m"
    if ((status != 0)); then
        log "mentord exited with status $status; log tail:"
        tail -n 20 "$work/$schema.log" >&2
        return 1
    fi
}

# with_repeats PREFIX TO: copies the topics PREFIX.* to TO.*, each AQM and VOC
# message keyed as before (so on the same partition); every (100 / repeats)th
# message of a topic comes again 20,000 messages of that topic later (about
# 5,000 of its partition, with 4 partitions: batches later), or at the end.
# Echoes how many repeats it added.
with_repeats() {
    local from=$1 to=$2 kind added=0 n
    for kind in voc aqm roster; do
        kcat -C -b "$MENTORD_KAFKA" -t "$from.$kind" -o beginning -e -q -f '%k\t%s\n' >"$work/copy.tsv"
        if [[ $kind == roster ]]; then
            cp "$work/copy.tsv" "$work/repeats.tsv"
        else
            awk -v every=$((100 / repeats)) -v delay=20000 '
                { print; if (NR % every == 0) { due[++last] = NR + delay; line[last] = $0 }
                  while (first < last && due[first + 1] == NR) { first++; print line[first]; delete line[first] } }
                END { while (first < last) print line[++first] }' first=0 last=0 "$work/copy.tsv" >"$work/repeats.tsv"
            n=$(($(wc -l <"$work/repeats.tsv") - $(wc -l <"$work/copy.tsv")))
            added=$((added + n))
        fi
        kcat -P -b "$MENTORD_KAFKA" -t "$to.$kind" -K $'\t' <"$work/repeats.tsv" || return 1
    done
    rm -f "$work/copy.tsv" "$work/repeats.tsv"
    echo "$added"
}

# generate_programs PREFIX DAYS: the center as $programs client programs p1, p2...,
# each on topics of its own: program k has its own seed (k), a contiguous share of
# the agents (the first agents % programs programs have one agent more) and a
# skill shift of 0.02 x (k - (programs + 1) / 2), so the programs score apart
# and the shifts cancel out. Then it merges them by event time into PREFIX.* (a program produced
# after another would arrive weeks behind its partitions' stream time and be
# decided late), the roster program after program (no agent is in two).
# Echoes "voc aqm roster", summed; leaves each program's agents and shift in
# $work/programs.txt.
generate_programs() {
    local to=$1 days=$2 k first=1 size skill counts kind sum_voc=0 sum_aqm=0 sum_roster=0 v a r
    : >"$work/programs.txt"
    for ((k = 1; k <= programs; k++)); do
        size=$((agents / programs + (k <= agents % programs ? 1 : 0)))
        skill=$(awk -v k="$k" -v n="$programs" 'BEGIN { printf "%.2f", 0.02 * (k - (n + 1) / 2) }')
        counts=$(generate "$to-p$k" "$days" --program "p$k" --seed "$k" --agents "$size" --first-agent "$first" \
            --skill-shift "$skill") || return 1
        read -r v a r <<<"$counts"
        sum_voc=$((sum_voc + v)) sum_aqm=$((sum_aqm + a)) sum_roster=$((sum_roster + r))
        printf 'p%d: agents %d..%d, seed %d, skill shift %s, %d messages\n' "$k" "$first" \
            "$((first + size - 1))" "$k" "$skill" "$((v + a + r))" >>"$work/programs.txt"
        first=$((first + size))
    done
    for kind in voc aqm roster; do
        for ((k = 1; k <= programs; k++)); do
            kcat -C -b "$MENTORD_KAFKA" -t "$to-p$k.$kind" -o beginning -e -q -f '%k\t%s\n' || return 1
        done >"$work/programs.tsv"
        if [[ $kind != roster ]]; then
            # Stable on occurred_at: a tie keeps program order, and each partition stays in time order.
            sed -E 's/^(.*"occurred_at":"([^"]*)".*)$/\2\t\1/' "$work/programs.tsv" |
                LC_ALL=C sort -s -t $'\t' -k1,1 | cut -f 2- >"$work/merged.tsv" || return 1
            mv "$work/merged.tsv" "$work/programs.tsv"
        fi
        kcat -P -b "$MENTORD_KAFKA" -t "$to.$kind" -K $'\t' <"$work/programs.tsv" || return 1
    done
    rm -f "$work/programs.tsv"
    echo "$sum_voc $sum_aqm $sum_roster"
}

# check SCHEMA MESSAGES EVENTS: the drain stored every message and every event, rejected none.
check() {
    local got
    got=$(psql_val "SELECT (SELECT sum(next_offset) FROM $1.consumer_offsets) || ' ' ||
                           (SELECT count(*) FROM $1.score_events) || ' ' ||
                           (SELECT count(*) FROM $1.rejected_events)")
    [[ $got == "$2 $3 0" ]] || { log "$1: stored offsets, events, rejects = $got, expected $2 $3 0"; return 1; }
}

# settle: before the next timing, PostgreSQL finishes what the last run left
# it (dirty buffers, autovacuum of the tables just filled), which otherwise
# takes CPU from the next run. Polls for at most 5 minutes.
settle() {
    psql_val "CHECKPOINT" >/dev/null
    for _ in $(seq 600); do
        [[ $(psql_val "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'") == 0 ]] && return
        sleep 0.5
    done
    log "autovacuum still running after 5 minutes; timing anyway"
}

# budget WALL MENTORD_CPU PG_CPU PG_BUSIEST: the CPU a drain used, and the share of the machine's CPUs.
budget() {
    awk -v w="$1" -v m="$2" -v p="$3" -v b="$4" -v n="$(nproc)" 'BEGIN {
        printf "mentord %.1f s + PostgreSQL %.1f s (its busiest process %.1f s) = %.0f%% of %d CPUs", \
            m, p, b, (w > 0 ? 100 * (m + p) / (w * n) : 0), n }'
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.1f MiB", k / 1024; else printf "n/a" }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "NOT MET") }'; }

prefix=bench-$run_id
schema=bench_$run_id
started=$SECONDS

# --- 1. Generate the full topic set.
log "generating $agents agents x $days days into $prefix.{voc,aqm,roster}"
counts=$(generate "$prefix" "$days")
read -r voc aqm roster <<<"$counts"
total=$((voc + aqm + roster))
log "produced $total messages (voc $voc, aqm $aqm, roster $roster)"
if ((programs > 1)); then
    log "generating the same center as $programs programs, merged into $prefix-prog.{voc,aqm,roster}"
    counts=$(generate_programs "$prefix-prog" "$days")
    read -r p_voc p_aqm p_roster <<<"$counts"
    p_total=$((p_voc + p_aqm + p_roster))
    log "produced $p_total messages (voc $p_voc, aqm $p_aqm, roster $p_roster)"
fi

# --- 2. The ingest: mentord's drain into PostgreSQL with the analytics off.
log "mentord drain with [analytics] enabled = false into schema ${schema}_noan"
drain "$prefix" "${schema}_noan" "[analytics]" "enabled = false"
check "${schema}_noan" "$total" "$((voc + aqm))"
read -r n_wall n_rss n_cpu _ n_early n_pg n_pg_busiest <"$work/${schema}_noan.m"

# --- 2b. The same drain with the analytics on: what they cost.
settle
log "mentord drain into schema $schema"
drain "$prefix" "$schema"
check "$schema" "$total" "$((voc + aqm))"
read -r m_wall m_rss m_cpu _ m_early m_pg m_pg_busiest <"$work/$schema.m"

# --- 2b'. The center as several programs, drained with the analytics.
if ((programs > 1)); then
    settle
    log "mentord drain of $programs programs into schema ${schema}_prog"
    drain "$prefix-prog" "${schema}_prog"
    check "${schema}_prog" "$p_total" "$((p_voc + p_aqm))"
    got=$(psql_val "SELECT count(DISTINCT program) FROM ${schema}_prog.score_events")
    ((got == programs)) || { log "${schema}_prog: events of $got programs, expected $programs"; exit 1; }
    read -r p_wall p_rss p_cpu _ p_early p_pg p_pg_busiest <"$work/${schema}_prog.m"
    # 0 unless the merge put a partition out of time order (then the figures are not of on-time data).
    p_late=$(psql_val "SELECT count(*) FROM ${schema}_prog.score_events WHERE decide_at <> occurred_at")
fi

# --- 2c. The same drain with the baseline binary, on the same topics.
if [[ -n $baseline ]]; then
    settle
    log "baseline ($baseline) drain into schema ${schema}_base"
    current=$mentord
    mentord=$baseline
    drain "$prefix" "${schema}_base"
    mentord=$current
    check "${schema}_base" "$total" "$((voc + aqm))"
    read -r b_wall b_rss b_cpu _ b_early b_pg b_pg_busiest <"$work/${schema}_base.m"
fi

# --- 2d. The drain with the analytics on a copy of the topics with repeats of earlier batches' events.
if [[ -n $repeats ]]; then
    log "copying the topics to $prefix-rep.* with $repeats% repeats"
    added=$(with_repeats "$prefix" "$prefix-rep")
    settle
    log "mentord drain of the topics with repeats into schema ${schema}_rep"
    drain "$prefix-rep" "${schema}_rep"
    check "${schema}_rep" "$((total + added))" "$((voc + aqm))"
    read -r r_wall r_rss r_cpu _ _ r_pg r_pg_busiest <"$work/${schema}_rep.m"
    # How often the watermark moves, so how many transactions evaluate and rewrite
    # status rows, follows how the fetches interleave the partitions: the same
    # topics drained at another max.partition.fetch.bytes took 24 to 42 such
    # transactions and 11.7 to 15.4 s. A partition 1% longer shifts the fetches
    # as much, so both topic sets are drained at two more fetch sizes too.
    for fetch in "${fetch_sizes[@]}"; do
        settle
        log "drains at max.partition.fetch.bytes = $fetch, without and with repeats"
        drain "$prefix" "${schema}_f$fetch" "[kafka]" "max.partition.fetch.bytes = $fetch"
        check "${schema}_f$fetch" "$total" "$((voc + aqm))"
        settle
        drain "$prefix-rep" "${schema}_rep_f$fetch" "[kafka]" "max.partition.fetch.bytes = $fetch"
        check "${schema}_rep_f$fetch" "$((total + added))" "$((voc + aqm))"
    done
fi

# --- 3. Raw consume of the same topics: kcat, one group member on all three, to /dev/null.
settle
log "kcat raw consume"
measure "$work/kcat.m" kcat -b "$MENTORD_KAFKA" -G "$prefix-kcat" "$prefix.voc" "$prefix.aqm" "$prefix.roster" \
    -o beginning -e -q >/dev/null
read -r k_wall _ _ k_status _ _ _ <"$work/kcat.m"
((k_status == 0)) || { log "kcat exited with status $k_status"; exit 1; }

# --- 4. COPY of the rows mentord stored into a fresh table shaped like score_events.
settle
log "COPY of score_events rows"
rows_file=$work/score_events.copy
psql_val "\\copy $schema.score_events TO '$rows_file'"
rows=$(wc -l <"$rows_file")
psql_val "CREATE TABLE $schema.copy_target (LIKE $schema.score_events INCLUDING ALL)"
measure "$work/copy.m" psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "\\copy $schema.copy_target FROM '$rows_file'"
read -r c_wall _ _ c_status _ _ _ <"$work/copy.m"
((c_status == 0)) || { log "COPY failed"; exit 1; }
rm -f "$rows_file"

# --- 5. A quarter of the events, same agents: peak RSS must not follow the event count.
settle
log "smaller run: $agents agents x $small_days days"
counts=$(generate "$prefix-small" "$small_days")
read -r s_voc s_aqm s_roster <<<"$counts"
s_total=$((s_voc + s_aqm + s_roster))
drain "$prefix-small" "${schema}_small_noan" "[analytics]" "enabled = false"
check "${schema}_small_noan" "$s_total" "$((s_voc + s_aqm))"
read -r sn_wall sn_rss _ _ _ _ _ <"$work/${schema}_small_noan.m"
settle
drain "$prefix-small" "${schema}_small"
check "${schema}_small" "$s_total" "$((s_voc + s_aqm))"
read -r s_wall s_rss _ _ _ _ _ <"$work/${schema}_small.m"

# --- Figures. Issue #2's targets are the ingest's (analytics off); issue #3's ratio is the analytics' cost.
m_rate=$(rate "$total" "$m_wall")
n_rate=$(rate "$total" "$n_wall")
k_rate=$(rate "$total" "$k_wall")
c_rate=$(rate "$rows" "$c_wall")
if ((k_rate <= c_rate)); then slower="kcat" slow_rate=$k_rate; else slower="COPY" slow_rate=$c_rate; fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
read -r load _ </proc/loadavg

echo "mentord ingest benchmark: $agents agents x $days days, $total messages (voc $voc, aqm $aqm, roster $roster)"
echo "build ${build_type:-default}, $(nproc) CPUs, load average $load at the end, $((SECONDS - started)) s in all"
printf '%-34s %9s msgs %8.2f s %9s events/s   target >= 50000 events/s: %s\n' \
    "mentord ingest drain (analytics off)" "$total" "$n_wall" "$n_rate" "$(verdict "$n_rate" 50000)"
printf '%-34s %s (%s in the first quarter of the run), cpu %s s\n' "  mentord peak RSS" \
    "$(mib "$n_rss")" "$(mib "$n_early")" "$n_cpu"
printf '%-34s %s\n' "  CPU" "$(budget "$n_wall" "$n_cpu" "$n_pg" "$n_pg_busiest")"
printf '%-34s %9s msgs %8.2f s %9s events/s, peak RSS %s (full run %s)\n' \
    "  smaller run ($agents x $small_days days)" "$s_total" "$sn_wall" "$(rate "$s_total" "$sn_wall")" \
    "$(mib "$sn_rss")" "$(mib "$n_rss")"
printf '%-34s %9s msgs %8.2f s %9s events/s\n' "kcat raw consume to /dev/null" "$total" "$k_wall" "$k_rate"
printf '%-34s %9s rows %8.2f s %9s rows/s\n' "COPY into score_events-like table" "$rows" "$c_wall" "$c_rate"
printf '%-34s %sx of %s (%s/s)   target >= 0.50x: %s\n' "ingest / slower reference" \
    "$(ratio "$n_rate" "$slow_rate")" "$slower" "$slow_rate" "$(verdict "$(ratio "$n_rate" "$slow_rate")" 0.5)"
printf '%-34s %9s msgs %8.2f s %9s events/s   / ingest: %sx   target >= 0.67x: %s\n' \
    "mentord drain with the analytics" "$total" "$m_wall" "$m_rate" "$(ratio "$m_rate" "$n_rate")" \
    "$(verdict "$(ratio "$m_rate" "$n_rate")" 0.67)"
printf '%-34s %s (%s in the first quarter of the run), cpu %s s\n' "  mentord peak RSS" \
    "$(mib "$m_rss")" "$(mib "$m_early")" "$m_cpu"
printf '%-34s %s\n' "  CPU" "$(budget "$m_wall" "$m_cpu" "$m_pg" "$m_pg_busiest")"
printf '%-34s %9s msgs %8.2f s %9s events/s, peak RSS %s (full run %s)\n' \
    "  smaller run ($agents x $small_days days)" "$s_total" "$s_wall" "$(rate "$s_total" "$s_wall")" \
    "$(mib "$s_rss")" "$(mib "$m_rss")"
if ((programs > 1)); then
    printf '%-34s %9s msgs %8.2f s %9s events/s   / one program: %sx\n' \
        "$programs programs, with the analytics" "$p_total" "$p_wall" "$(rate "$p_total" "$p_wall")" \
        "$(ratio "$(rate "$p_total" "$p_wall")" "$m_rate")"
    sed 's/^/    /' "$work/programs.txt"
    printf '%-34s %s\n' "  events decided after their time" "$p_late"
    printf '%-34s %s (%s in the first quarter of the run), cpu %s s\n' "  mentord peak RSS" \
        "$(mib "$p_rss")" "$(mib "$p_early")" "$p_cpu"
    printf '%-34s %s\n' "  CPU" "$(budget "$p_wall" "$p_cpu" "$p_pg" "$p_pg_busiest")"
fi
if [[ -n $repeats ]]; then
    # Events/s = distinct events stored (the same in both drains) / wall time: a repeat adds work, not events.
    e_rate=$(rate "$((voc + aqm))" "$m_wall")
    r_rate=$(rate "$((voc + aqm))" "$r_wall")
    echo "repeats of earlier batches' events (${batch:-default} events per batch):"
    printf '%-34s %9s events %8.2f s %9s events/s\n' "  drain with the analytics" "$((voc + aqm))" "$m_wall" "$e_rate"
    printf '%-34s %9s events %8.2f s %9s events/s   (+%s repeats, %s%%)\n' "  the same with repeats" \
        "$((voc + aqm))" "$r_wall" "$r_rate" "$added" "$repeats"
    printf '%-34s %sx   (one fetch size: see below)\n' "  with repeats / without" "$(ratio "$r_rate" "$e_rate")"
    sum_without=$m_wall
    sum_with=$r_wall
    for fetch in "${fetch_sizes[@]}"; do
        read -r f_wall _ <"$work/${schema}_f$fetch.m"
        read -r fr_wall _ <"$work/${schema}_rep_f$fetch.m"
        printf '%-34s %8.2f s without, %8.2f s with repeats: %sx\n' "  max.partition.fetch.bytes $fetch" \
            "$f_wall" "$fr_wall" "$(ratio "$f_wall" "$fr_wall")"
        sum_without=$(awk -v a="$sum_without" -v b="$f_wall" 'BEGIN { print a + b }')
        sum_with=$(awk -v a="$sum_with" -v b="$fr_wall" 'BEGIN { print a + b }')
    done
    pooled=$(ratio "$sum_without" "$sum_with")
    printf '%-34s %sx   target >= 0.90x: %s\n' "  over the $((${#fetch_sizes[@]} + 1)) fetch sizes" "$pooled" \
        "$(verdict "$pooled" 0.9)"
    printf '%-34s %s, cpu %s s; %s\n' "  peak RSS with repeats" "$(mib "$r_rss")" "$r_cpu" \
        "$(budget "$r_wall" "$r_cpu" "$r_pg" "$r_pg_busiest")"
    # Offsets and score_events' kafka_offset count the repeats' messages: every other table must be equal.
    table_digest "$schema" | grep -Ev '^(consumer_offsets|score_events) ' >"$work/digest.norep"
    table_digest "${schema}_rep" | grep -Ev '^(consumer_offsets|score_events) ' >"$work/digest.rep"
    if cmp -s "$work/digest.norep" "$work/digest.rep"; then
        echo "  tables (but offsets) identical with and without repeats: yes"
    else
        echo "  tables (but offsets) identical with and without repeats: NO"
        diff "$work/digest.norep" "$work/digest.rep" | sed 's/^/    /'
    fi
fi
if [[ -n $baseline ]]; then
    b_rate=$(rate "$total" "$b_wall")
    printf '%-34s %9s msgs %8.2f s %9s events/s   this build / baseline: %sx\n' \
        "baseline drain with the analytics" "$total" "$b_wall" "$b_rate" "$(ratio "$m_rate" "$b_rate")"
    printf '%-34s %s, cpu %s s\n' "  baseline peak RSS" "$(mib "$b_rss")" "$b_cpu"
    printf '%-34s %s\n' "  CPU" "$(budget "$b_wall" "$b_cpu" "$b_pg" "$b_pg_busiest")"
    table_digest "$schema" >"$work/digest.this"
    table_digest "${schema}_base" >"$work/digest.base"
    echo "table digests of the drain with the analytics (this build, then the baseline):"
    sed 's/^/  this  /' "$work/digest.this"
    sed 's/^/  base  /' "$work/digest.base"
    if cmp -s "$work/digest.this" "$work/digest.base"; then
        echo "  identical: yes"
    else
        echo "  identical: NO"
    fi
fi
