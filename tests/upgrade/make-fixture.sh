#!/bin/bash
# make-fixture.sh [REF]: makes tests/upgrade/previous-release.sql.gz, the
# database the test upgrade_previous_release.sh upgrades: a generated center
# whose first part was drained by release REF (default 95650e2, the release
# before programs). A fresh machine gets no git history, so the test cannot
# build REF itself; this script does, once per release (docs/testing.md,
# "The upgrade test").
#
# It builds REF's mentord and mentord-gen in a temporary git worktree
# (removed once built), uses the harness of MENTORD_PG and MENTORD_KAFKA or
# starts one (and stops it), produces the center's first part to the fixed
# topics upgrade.*, drains it with REF's mentord (--exit-at-end) into the
# schema mentord_upgrade_fixture, and dumps that schema (plain SQL, gzip).
# The dump opens with "-- fixture KEY: VALUE" lines (which commit, the
# generator's options for the first part and the rest, what was produced):
# the test reads them, so that it produces the same messages again; they are
# also written to tests/upgrade/previous-release.txt, for a reader.
# The configuration written for REF's mentord uses REF's keys: a release that
# renames one needs this script changed with it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/previous-release.sql.gz"

# The center: 36 agents, 21 days drained by REF, then 14 more days that the
# test drains with the current release. The rest has a seed of its own: with
# the first part's, its event ids would repeat the first part's.
schema=mentord_upgrade_fixture
prefix=upgrade
group=upgrade
part1="--agents 36 --days 21 --start 2026-03-02 --seed 20 --partitions 4"
rest="--agents 36 --days 14 --start 2026-03-23 --seed 21 --partitions 4 --no-roster"

ref=${1:-95650e2}
commit=$(git -C "$root" rev-parse --verify "$ref^{commit}")
subject=$(git -C "$root" log -1 --format=%s "$commit")
work=$(mktemp -d "${TMPDIR:-/tmp}/mentord-fixture.XXXXXX")
harness_dir=""
cleanup() {
    git -C "$root" worktree remove --force "$work/src" 2>/dev/null || true
    [[ -z $harness_dir ]] || "$root/tests/harness/down" "$harness_dir"
    rm -rf "$work"
}
trap cleanup EXIT
log() { echo "make-fixture: $*" >&2; }

log "building mentord and mentord-gen of $commit ($subject)"
git -C "$root" worktree add --detach "$work/src" "$commit" >&2
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/cmake.log"
nice -n 19 cmake --build "$work/build" -j2 --target mentord mentord-gen >"$work/build.log"
git -C "$root" worktree remove --force "$work/src"
mentord="$work/build/daemon/mentord"
gen="$work/build/tools/mentord-gen"

if [[ -z ${MENTORD_PG:-} || -z ${MENTORD_KAFKA:-} ]]; then
    log "starting a harness"
    "$root/tests/harness/up" >"$work/harness.env"
    eval "$(cat "$work/harness.env")"
    harness_dir=$MENTORD_HARNESS_DIR
fi
export PGOPTIONS="-c client_min_messages=warning"
psql_val() { psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "SET search_path = $schema" -c "$1"; }

# Fixed topic names, so that the offsets stored are those of topics this
# script created: a harness that already has them cannot make the fixture.
if kcat -L -b "$MENTORD_KAFKA" | grep -q "topic \"$prefix\.\(voc\|aqm\|roster\)\""; then
    log "topics $prefix.* already exist on $MENTORD_KAFKA: use a fresh harness (unset MENTORD_PG to get one)"
    exit 1
fi
psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "DROP SCHEMA IF EXISTS $schema CASCADE"

# shellcheck disable=SC2086 # the options are words
"$gen" --brokers "$MENTORD_KAFKA" --topic-voc "$prefix.voc" --topic-aqm "$prefix.aqm" \
    --topic-roster "$prefix.roster" $part1 2>"$work/gen.log"
produced=$(sed -n 's/.*produced \(voc=[0-9]* aqm=[0-9]* roster=[0-9]*\) duplicates=.*/\1/p' "$work/gen.log")
[[ -n $produced ]] || { cat "$work/gen.log" >&2; log "mentord-gen failed"; exit 1; }
log "first part produced: $produced"

# The release's own defaults, but no lower bound on event time (the center's
# dates are fixed, and age).
cat >"$work/mentord.conf" <<EOF
[postgres]
schema = $schema
[ingest]
topic_voc = $prefix.voc
topic_aqm = $prefix.aqm
topic_roster = $prefix.roster
max_past_days = 0
[kafka]
group.id = $group
EOF
"$mentord" --config "$work/mentord.conf" --exit-at-end --http off 2>"$work/mentord.log" ||
    { tail -n 20 "$work/mentord.log" >&2; log "the drain failed"; exit 1; }

# What the test needs to find: every event stored and decided, and analytics
# rows of each kind written by the release.
read -r voc aqm _ < <(echo "$produced" | tr -c '0-9\n' ' ')
counts=$(psql_val "SELECT (SELECT count(*) FROM score_events) || ' ' || (SELECT count(*) FROM triggers)
    || ' ' || (SELECT count(*) FROM pairings) || ' ' || (SELECT count(*) FROM pairing_kpis)
    || ' ' || (SELECT count(*) FROM comparison_kpis) || ' ' || (SELECT closed_at FROM analytics_state)")
read -r events triggers pairings pairing_kpis comparison_kpis closed <<<"$counts"
log "stored: score_events $events, triggers $triggers, pairings $pairings," \
    "pairing_kpis $pairing_kpis, comparison_kpis $comparison_kpis, closed_at $closed"
if ((events != voc + aqm || triggers == 0 || pairings == 0 || pairing_kpis == 0)) || [[ $closed != infinity ]]; then
    log "the first part does not make a useful fixture: expected $((voc + aqm)) events, triggers, pairings" \
        "and KPI rows, every event decided"
    exit 1
fi

# The header, in the dump and beside it.
cat >"$work/header" <<END
-- mentord upgrade fixture, made by tests/upgrade/make-fixture.sh on $(date -u +%F)
-- fixture commit: $commit $subject
-- fixture schema: $schema
-- fixture prefix: $prefix
-- fixture group: $group
-- fixture part1: $part1
-- fixture part1 produced: $produced
-- fixture rest: $rest
-- fixture config: the release's defaults, [ingest] max_past_days = 0
-- fixture stored: score_events $events, triggers $triggers, pairings $pairings, pairing_kpis $pairing_kpis, comparison_kpis $comparison_kpis
END
pg_dump=$(command -v "${HARNESS_PGBIN:-/usr/lib/postgresql/15/bin}/pg_dump" || command -v pg_dump)
{
    cat "$work/header"
    "$pg_dump" "$MENTORD_PG" --schema="$schema" --no-owner --no-privileges
} | gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
cp "$work/header" "${out%.sql.gz}.txt"
psql "$MENTORD_PG" -XAtq -v ON_ERROR_STOP=1 -c "DROP SCHEMA $schema CASCADE"
log "wrote $out ($(stat -c %s "$out") bytes)"
