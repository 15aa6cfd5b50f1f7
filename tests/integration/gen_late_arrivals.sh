#!/bin/bash
# mentord-gen's late arrivals (issue #19): the same center produced without
# delays and with --voc-delay-hours 72 --aqm-delay-hours 48 holds the same
# messages in the same partitions; only the order changes, and it is the order
# of arrival: late by up to the delay, never more, duplicates right after
# their original, the same on every run. mentord is not involved.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

voc_hours=72
aqm_hours=48
center=(--agents 100 --days 10 --seed 11 --duplicate-share 0.05 --partitions 4)
ontime="genlate-$run_id-ontime"
late="genlate-$run_id-late"
again="genlate-$run_id-again"

generate "$ontime" "${center[@]}" 2>"$work/ontime.log" || fail "producing the center without delays"
delays=(--voc-delay-hours "$voc_hours" --aqm-delay-hours "$aqm_hours")
generate "$late" "${center[@]}" "${delays[@]}" 2>"$work/late.log" || fail "producing the late center"
generate "$again" "${center[@]}" "${delays[@]}" 2>"$work/again.log" || fail "producing the late center again"
cat "$work/ontime.log" "$work/late.log"
read -r voc aqm roster dups < <(generated_counts "$work/ontime.log")
assert_eq "counts with delays (voc aqm roster duplicates)" "$voc $aqm $roster $dups" \
    "$(generated_counts "$work/late.log")"

# dump TOPIC: "partition<TAB>key<TAB>payload" lines, each partition's in offset order.
dump() {
    kcat -C -b "$MENTORD_KAFKA" -t "$1" -o beginning -e -q -f '%p\t%k\t%s\n' | sort -s -t $'\t' -k1,1n
}

# occurred_order FILE: "messages later than a predecessor, the largest lateness
# in seconds" over the dump FILE, where a message is later than a predecessor
# when an earlier message of its partition occurred after it.
occurred_order() {
    cut -f1,3 "$1" | python3 -c '
import datetime, json, sys
for line in sys.stdin:
    partition, message = line.rstrip("\n").split("\t", 1)
    at = datetime.datetime.fromisoformat(json.loads(message)["occurred_at"].replace("Z", "+00:00"))
    print(partition, int(at.timestamp()), sep="\t")' |
        awk -F'\t' '{
            if (($1 in newest) && $2 < newest[$1]) {
                behind++
                if (newest[$1] - $2 > most) most = newest[$1] - $2
            }
            if (!($1 in newest) || $2 > newest[$1]) newest[$1] = $2
        } END { print behind + 0, most + 0 }'
}

# repeats FILE: "repeats right after their original, repeats elsewhere" in the dump FILE.
repeats() {
    awk -F'\t' '{
        if ($0 == previous[$1]) adjacent++
        else if ($0 in seen) elsewhere++
        seen[$0] = 1
        previous[$1] = $0
    } END { print adjacent + 0, elsewhere + 0 }' "$1"
}

adjacent_total=0
for kind in voc aqm roster; do
    dump "$ontime.$kind" >"$work/ontime.$kind"
    dump "$late.$kind" >"$work/late.$kind"
    dump "$again.$kind" >"$work/again.$kind"
    expected=$(wc -l <"$work/ontime.$kind")
    assert_eq "$kind messages without delays = produced" "${!kind}" "$expected"
    # Same messages, keys and partitions: only the order may differ.
    assert_eq "$kind: the same multiset of (partition, key, message) with delays" \
        "$(sort "$work/ontime.$kind" | md5sum | cut -d' ' -f1)" \
        "$(sort "$work/late.$kind" | md5sum | cut -d' ' -f1)"
    # The same seed and options give the same order.
    cmp -s "$work/late.$kind" "$work/again.$kind" || fail "$kind: a second late run produced another order"
    [[ $kind == roster ]] && continue

    hours_var=${kind}_hours
    limit=$((${!hours_var} * 3600))
    read -r behind most < <(occurred_order "$work/ontime.$kind")
    assert_eq "$kind without delays: messages behind an earlier one of their partition" 0 "$behind"
    read -r behind most < <(occurred_order "$work/late.$kind")
    echo "$kind with delays: $behind messages behind an earlier one, by up to $most s (delay < $limit s)"
    ((behind > 0)) || fail "$kind with delays is in occurred_at order in every partition: no delay happened"
    # A message arrives in [occurred, occurred + H): one produced after another
    # can have occurred less than H hours before it, never more.
    ((most < limit)) || fail "$kind: a message came $most s after one that occurred later (limit $limit s)"
    # With thousands of delays uniform in [0, H), some cross more than a day:
    # the order is arrival across days, not within each day.
    ((most > 86400)) || fail "$kind: no message more than a day late ($most s): delays did not cross days"

    read -r adjacent elsewhere < <(repeats "$work/late.$kind")
    assert_eq "$kind with delays: duplicates not right after their original" 0 "$elsewhere"
    adjacent_total=$((adjacent_total + adjacent))
done
assert_eq "duplicates right after their original (voc + aqm)" "$dups" "$adjacent_total"

finish
