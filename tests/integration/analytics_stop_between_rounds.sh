#!/bin/bash
# A low-score trigger opens its comparison windows (SPEC section 4: the
# flagged agents not paired). Provisional KPI rows are written with the
# transactions that run a pairing round, but a window's first row must go
# with the transaction that opened it: a live mentord stopped between two
# rounds (rounds are daily by default) must not lose the comparison windows
# of the triggers it fired since the last one, as a restart rebuilds sums,
# not windows.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="between-$run_id"
generate "$prefix" --agents 60 --days 10 --start 2026-09-01 --seed 41 --partitions 1 2>"$work/gen.log"
cat "$work/gen.log"
schema="it_between_$run_id"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run"
drain "$work/run.conf" 2>"$work/drain.log" || fail "first drain failed"
last_round=$(psql_val "$schema" "SELECT last_round_at FROM analytics_state")
echo "last round: $last_round"

# 30 AQM events with hold_etiquette 0 for five agents ok in it, late on the
# last day: after the last round, before the next one (the next day).
mapfile -t targets < <(psql_val "$schema" "SELECT agent_id FROM agent_behavior_status
    WHERE behavior = 'hold_etiquette' AND status = 'ok' ORDER BY agent_id LIMIT 5")
assert_eq "agents ok in hold_etiquette" "5" "${#targets[@]}"
for a in "${targets[@]}"; do
    for i in $(seq -w 10 39); do
        printf '%s\t{"schema":"aqm.v1","event_id":"q-zero-%s-%s","agent_id":"%s","occurred_at":"2026-09-10T23:%s:00.000Z","overall":50,"behaviors":{"hold_etiquette":0}}\n' \
            "$a" "$a" "$i" "$a" "$i"
    done
done >"$work/zero.tsv"
# Live traffic goes on: a later evaluation moves the partition's stream time,
# and so the watermark, past the low ones (docs/analytics.md: a partition
# holds its source's watermark at its newest event time until it brings a
# newer one).
printf '%s\t{"schema":"aqm.v1","event_id":"q-tick","agent_id":"%s","occurred_at":"2026-09-10T23:59:00.000Z","overall":50}\n' \
    "${targets[0]}" "${targets[0]}" >>"$work/zero.tsv"
kcat -P -b "$MENTORD_KAFKA" -t "$prefix.aqm" -K $'\t' <"$work/zero.tsv" || fail "producing the low events"

# Live (no --exit-at-end): stopped once every target's trigger is stored.
"$MENTORD_BIN" --config "$work/run.conf" --http off 2>"$work/live.log" &
pid=$!
fired="SELECT count(DISTINCT agent_id) FROM triggers WHERE behavior = 'hold_etiquette' AND fired_at >= '2026-09-10 23:00'"
all_fired() { [[ $(psql_val "$schema" "$fired") == "${#targets[@]}" ]]; }
wait_alive=$pid wait_until 120 all_fired || fail "the targets' triggers were not stored"
kill -TERM "$pid"
wait "$pid" || fail "mentord did not stop cleanly"
assert_eq "no round since the first drain" "$last_round" "$(psql_val "$schema" "SELECT last_round_at FROM analytics_state")"

assert_eq "low-score triggers never paired without comparison windows" "0" "$(psql_val "$schema" "
    SELECT count(*) FROM triggers t WHERE kind = 'low_score' AND pairing_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM comparison_kpis c WHERE c.trigger_id = t.trigger_id)")"
assert_eq "the targets' comparison windows (4 metrics each)" "$((4 * ${#targets[@]}))" "$(psql_val "$schema" "
    SELECT count(*) FROM comparison_kpis c JOIN triggers t USING (trigger_id)
     WHERE t.behavior = 'hold_etiquette' AND t.fired_at >= '2026-09-10 23:00'")"

psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
