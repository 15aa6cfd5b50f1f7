#!/bin/bash
# Two mentord instances in one consumer group share the partitions, with the
# eager and with the cooperative rebalance protocol: the tables they end with
# equal those of a single uninterrupted instance.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="pair-$run_id"
generate "$prefix" --agents 120 --days 14 --seed 17 --duplicate-share 0.01 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

write_config "$work/ref.conf" "it_two_ref_$run_id" "$prefix" "$prefix-ref"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
ref=$(table_digest "it_two_ref_$run_id")

for protocol in range cooperative-sticky; do
    schema="it_two_${protocol//-/_}_$run_id"
    write_config "$work/$protocol.conf" "$schema" "$prefix" "$prefix-$protocol" "[ingest]" "batch_max_events = 100" \
        "[kafka]" "partition.assignment.strategy = $protocol" "session.timeout.ms = 6000"
    "$MENTORD_BIN" --config "$work/$protocol.conf" --exit-at-end 2>"$work/$protocol-a.log" &
    a=$!
    # The second instance joins once the first has stored something, forcing a rebalance mid-stream.
    started() { (($(offsets_stored "$schema") > 0)); }
    wait_until 60 started || fail "$protocol: first instance made no progress"
    "$MENTORD_BIN" --config "$work/$protocol.conf" --exit-at-end 2>"$work/$protocol-b.log" &
    b=$!
    wait "$a" || fail "$protocol: first instance exited non-zero"
    wait "$b" || fail "$protocol: second instance exited non-zero"
    assert_eq "$protocol: everything consumed once" "$total" "$(offsets_stored "$schema")"
    assert_eq "$protocol: both instances were assigned partitions" "2" \
        "$(grep -l '^<6>assigned ' "$work/$protocol-a.log" "$work/$protocol-b.log" | wc -l)"
    assert_eq "$protocol: tables equal a single instance's" "$ref" "$(table_digest "$schema")"
    psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
done

psql_val public "DROP SCHEMA it_two_ref_$run_id CASCADE" >/dev/null
finish
