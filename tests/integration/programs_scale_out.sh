#!/bin/bash
# Two instances and three programs (issue 20, item 4): the programs of one
# consumer group are spread over its instances. Three generated client
# programs (acme, globex, initech) share the topics and some agents (so some
# mentors work in two programs, and a mentor's capacity counts across them);
# with the program 'default' the group knows four. Two live instances decide
# two each at the same time, as their /metrics say
# (mentord_analytics_decides{program="NAME"}) and the analytics locks agree
# (pg_locks). One of them, drawn from the seed, is killed with kill -9 once a
# random share of what is left is stored: the other must take its programs
# over and consume the rest, and after the drain's last round every table
# equals a single instance's. Sizes: MENTORD_CHAOS_AGENTS (150 agents per
# program), MENTORD_CHAOS_DAYS (42).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-150}
days=${MENTORD_CHAOS_DAYS:-42}
prefix="progscale-$run_id"
programs=(acme globex initech)
# Each program's first agent comes this many after the previous program's.
stride=$((agents / 2))
# Every program the group's tables know: the generated ones and 'default', which always exists.
known="acme default globex initech"
read -r -a known_programs <<<"$known"

# Each program shares half of its agents with the next one: acme 1..150,
# globex 76..225, initech 151..300 by default. Each is generated on topics of
# its own, then merged by occurred_at into the shared topics (as
# programs_apart.sh does): a program produced after another would arrive
# weeks behind its partitions' stream time and be decided late.
for i in "${!programs[@]}"; do
    program=${programs[i]}
    generate "$prefix-$program" --program "$program" --first-agent $((1 + i * stride)) \
        --agents "$agents" --days "$days" --seed $((chaos_seed + i)) 2>"$work/gen-$program.log" ||
        fail "generating $program"
    cat "$work/gen-$program.log"
done
total=0
for program in "${programs[@]}"; do
    read -r voc aqm roster _ < <(generated_counts "$work/gen-$program.log")
    total=$((total + voc + aqm + roster))
done

# consume TOPIC: its messages as "key<TAB>payload" lines, each partition's in offset order.
consume() { kcat -C -b "$MENTORD_KAFKA" -t "$1" -o beginning -e -q -f '%k\t%s\n'; }

# Scores: sorted by occurred_at, stable, in the programs' order on a tie.
for kind in voc aqm; do
    for program in "${programs[@]}"; do consume "$prefix-$program.$kind"; done |
        sed -E 's/^(.*"occurred_at":"([^"]*)".*)$/\2\t\1/' | LC_ALL=C sort -s -t $'\t' -k1,1 | cut -f 2- \
        >"$work/$kind.tsv"
done
# The roster: every agent's events list all the programs it works in (the
# generator lists its run's only), so whichever is read last says the same.
for program in "${programs[@]}"; do consume "$prefix-$program.roster"; done >"$work/roster-generated.tsv"
awk -F '\t' 'NR == FNR { if (match($2, /"programs":\["[^"]*"\]/)) {
                             p = substr($2, RSTART + 13, RLENGTH - 15)
                             if (!index("," of[$1] ",", "," p ",")) of[$1] = of[$1] (of[$1] == "" ? "" : ",") p
                         }
                         next }
             { list = of[$1]; gsub(/,/, "\",\"", list); sub(/"programs":\["[^"]*"\]/, "\"programs\":[\"" list "\"]") }
             { print }' "$work/roster-generated.tsv" "$work/roster-generated.tsv" >"$work/roster.tsv"
assert_eq "merged messages: every generated one" "$total" "$(cat "$work"/{voc,aqm,roster}.tsv | wc -l)"
assert_eq "agents working in two programs (the roster lists both)" $((2 * (agents - stride))) \
    "$(grep '"programs":\["[^"]*","[^"]*"\]' "$work/roster.tsv" | cut -f 1 | sort -u | wc -l)"
for kind in voc aqm roster; do
    kcat -P -b "$MENTORD_KAFKA" -t "$prefix.$kind" -K $'\t' -X enable.idempotence=true <"$work/$kind.tsv" ||
        fail "producing the merged $kind topic"
done

# The reference: one instance drains everything.
ref_schema="it_progscale_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref" "[ingest]" "batch_max_events = 200"
ref_started=$(date +%s%3N)
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"
echo "reference drain: $total messages in $(($(date +%s%3N) - ref_started)) ms"
for program in "${programs[@]}"; do
    n_pairings=$(psql_val "$ref_schema" "SELECT count(*) FROM pairings WHERE program = '$program'")
    echo "$program: $n_pairings pairings in the reference"
    checks=$((checks + 1))
    ((n_pairings > 0)) || fail "$program has no pairing in the reference: too little to compare"
done
# Shared mentors, so that the rounds of different programs meet in a mentor's
# capacity (the seeds tried had 5 to 12 such mentors).
read -r shared_mentors shared_at_once < <(psql_val "$ref_schema" "
    SELECT (SELECT count(*) FROM (SELECT mentor_id FROM pairings GROUP BY 1 HAVING count(DISTINCT program) > 1) m)
           || ' ' ||
           (SELECT count(*) FROM (SELECT DISTINCT mentor_id, started_at FROM pairings) s
             WHERE (SELECT count(DISTINCT o.program) FROM pairings o WHERE o.mentor_id = s.mentor_id
                      AND o.started_at <= s.started_at AND s.started_at < coalesce(o.ended_at, o.ends_at)) > 1)")
echo "reference: $shared_mentors mentors paired in two programs;" \
    "(mentor, start) with active pairings in two programs: $shared_at_once"
checks=$((checks + 1))
((shared_mentors > 0)) || fail "no mentor paired in two programs in the reference: capacity across programs not exercised"

# The run: two live instances in one group, each with its /metrics. Live (no
# --exit-at-end): an instance that does not decide everything would leave a
# drain once its own partitions are stored, and not wait for the killed one's.
schema="it_progscale_$run_id"
group="$prefix-run"
write_config "$work/run.conf" "$schema" "$prefix" "$group" "[ingest]" "batch_max_events = 200" \
    "[kafka]" "session.timeout.ms = 3000" "heartbeat.interval.ms = 500"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A pid port
# On the way out (a failure), the instances this script started and has not waited for.
trap 'kill -9 $(jobs -p) 2>/dev/null || true; [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT

# scrape NAME: instance NAME's mentord_analytics_decides samples as "PROGRAM VALUE"
# lines, sorted, in $work/NAME.decides; false if /metrics does not answer.
scrape() {
    curl -sf "http://127.0.0.1:${port[$1]}/metrics" >"$work/$1.metrics" || return 1
    sed -n 's/^mentord_analytics_decides{program="\([^"]*\)"} \([0-9][0-9]*\)$/\1 \2/p' "$work/$1.metrics" |
        LC_ALL=C sort >"$work/$1.decides"
}
# decided_by NAME...: "PROGRAM=WHO" for each known program, WHO the instances
# among NAME... whose last scrape says they decide it (joined by '+'), or none.
decided_by() {
    local program name who out=()
    for program in "${known_programs[@]}"; do
        who=""
        for name in "$@"; do
            [[ $(awk -v p="$program" '$1 == p { print $2 }' "$work/$name.decides") != 1 ]] || who+="${who:++}$name"
        done
        out+=("$program=${who:-none}")
    done
    echo "${out[*]}"
}
# lock_holders: the same from pg_locks (decider_of): who holds each program's analytics lock.
lock_holders() {
    local program who out=()
    for program in "${known_programs[@]}"; do
        who=$(decider_of "$schema" "$group" "$program")
        out+=("$program=${who:-none}")
    done
    echo "${out[*]}"
}
# programs_of NAME: the programs instance NAME's last scrape lists, with any value.
programs_of() { cut -d' ' -f1 "$work/$1.decides" | paste -sd' '; }
# count_decided NAME: how many programs instance NAME's last scrape says it decides.
count_decided() { awk '$2 == 1 { n++ } END { print n + 0 }' "$work/$1.decides"; }

port[first]=$(free_port)
start_instance first "$work/run.conf" --http "127.0.0.1:${port[first]}"
pid[first]=$instance_pid
# Alone, the first instance decides every program the group knows.
first_decides_all() {
    scrape first && [[ $(decided_by first) == "acme=first default=first globex=first initech=first" ]]
}
wait_alive=${pid[first]} wait_until 120 first_decides_all || fail "the first instance alone did not decide all four programs"
assert_eq "alone, the first instance decides every program (/metrics)" \
    "acme=first default=first globex=first initech=first" "$(decided_by first)"

port[second]=$(free_port)
start_instance second "$work/run.conf" --http "127.0.0.1:${port[second]}"
pid[second]=$instance_pid
# Both decide at the same time: each program by exactly one of them, as the locks say.
both_decide() {
    scrape first && scrape second || return 1
    local by
    by=$(decided_by first second)
    [[ $by != *=none* && $by != *+* && $by == *=first* && $by == *=second* && $(lock_holders) == "$by" ]]
}
wait_alive=${pid[second]} wait_until 120 both_decide || fail "the two instances did not decide programs at the same time"
echo "both decide: $(decided_by first second), at $(offsets_stored "$schema") of $total stored"
# A fair share: ceil(4 programs / 2 instances) each (programs are handed over between batches).
fair_share() { both_decide && [[ "$(count_decided first) $(count_decided second)" == "2 2" ]]; }
wait_alive=${pid[second]} wait_until 60 fair_share || fail "the instances did not settle on two programs each"
by=$(decided_by first second)
stored=$(offsets_stored "$schema")
echo "programs decided: $by (locks: $(lock_holders)), at $stored of $total stored"
assert_eq "programs each instance decides (/metrics)" "2 2" "$(count_decided first) $(count_decided second)"
assert_eq "every program decided by one instance, as its analytics lock says" "$(lock_holders)" "$by"
for name in first second; do
    assert_eq "$name: /metrics lists every program the group knows" "$known" "$(programs_of "$name")"
done
assert_eq "both decided before the end of the drain" yes "$( ((stored < total)) && echo yes || echo no)"

# The kill lands once a random share (up to half) of what is left is stored.
names=(first second)
random_between victim_index 0 1
victim=${names[victim_index]}
survivor=${names[1 - victim_index]}
random_between share 0 50
target=$((stored + (total - stored) * share / 100))
reached_target() { (($(offsets_stored "$schema") >= target)); }
wait_alive=${pid[$victim]} wait_until 300 reached_target || fail "the drain did not reach $target stored"
scrape "$victim" || fail "the $victim instance's /metrics did not answer before the kill"
stored=$(offsets_stored "$schema")
kill -9 "${pid[$victim]}"
wait "${pid[$victim]}" 2>/dev/null || true
echo "killed $victim (deciding: $(awk '$2 == 1 { print $1 }' "$work/$victim.decides" | paste -sd' '))" \
    "at $stored of $total stored (aimed at $share% of the rest)"
assert_eq "the killed instance decided its share when killed" 2 "$(count_decided "$victim")"
assert_eq "the kill landed mid-drain" yes "$( ((stored < total)) && echo yes || echo no)"

took_over() {
    scrape "$survivor" || return 1
    local all="acme=$survivor default=$survivor globex=$survivor initech=$survivor"
    [[ $(decided_by "$survivor") == "$all" && $(lock_holders) == "$all" ]]
}
wait_alive=${pid[$survivor]} wait_until 120 took_over || fail "the $survivor instance did not take every program over"
all_survivor="acme=$survivor default=$survivor globex=$survivor initech=$survivor"
assert_eq "after the kill, the $survivor instance decides every program (/metrics)" "$all_survivor" \
    "$(decided_by "$survivor")"
assert_eq "after the kill, the $survivor instance holds every analytics lock" "$all_survivor" "$(lock_holders)"
consumed_all() { (($(offsets_stored "$schema") >= total)); }
wait_alive=${pid[$survivor]} wait_until 300 consumed_all || fail "the $survivor instance did not consume the rest"
kill -TERM "${pid[$survivor]}"
wait_instance code "${pid[$survivor]}" "$survivor" 60
assert_eq "the $survivor instance stopped cleanly (exit code)" 0 "$code"
# The end of the drain (its last round), as after any live run.
drain "$work/run.conf" 2>>"$work/closing.log" || fail "the closing drain failed"
assert_eq "consumed everything" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal one uninterrupted instance's" "$(table_digest "$ref_schema")" "$(table_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
