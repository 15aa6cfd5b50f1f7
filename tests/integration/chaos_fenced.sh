#!/bin/bash
# A zombie instance: two instances share a drain; one is paused (SIGSTOP)
# past its session timeout, the group gives its partitions to the other, which
# stores past where the paused one stood; the paused one resumes with the
# batch it had read and tries to store it. The offset fence must refuse that
# batch (its "fenced N" > 0), and the tables must end as one instance's.
# The stale batch must be one read before the pause: on resuming, librdkafka
# finds its session timed out and drops what it had fetched, and mentord
# drops an open batch when told its partitions are gone. So the second
# instance's commits are made slow (200 ms, as on a slow disk): it reads its
# next batch while its last COMMIT runs, then waits for that COMMIT, and a
# pause most likely catches it there, holding a whole batch.
# A pause is kept only if it caught the instance outside a transaction (its
# PostgreSQL sessions idle once the COMMIT in flight ended on the server):
# one paused inside its transaction holds row locks the other instance waits
# for, so it commits first and the other is fenced instead. Such a pause is
# ended at once and another tried, at a random moment drawn from
# MENTORD_CHAOS_SEED, up to MENTORD_CHAOS_PAUSES (20) times; so is a pause
# after which the instance learns of its lost partitions before it stores a
# batch (it then drops the batch without a fence).
# Sizes: MENTORD_CHAOS_AGENTS (1000), MENTORD_CHAOS_DAYS (42).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
chaos_seed

agents=${MENTORD_CHAOS_AGENTS:-1000}
days=${MENTORD_CHAOS_DAYS:-42}
pauses=${MENTORD_CHAOS_PAUSES:-20}
prefix="chaosfence-$run_id"
generate "$prefix" --agents "$agents" --days "$days" --seed "$chaos_seed" 2>"$work/gen.log"
cat "$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

ref_schema="it_chaosfence_ref_$run_id"
write_config "$work/ref.conf" "$ref_schema" "$prefix" "$prefix-ref"
drain "$work/ref.conf" 2>"$work/ref.log" || fail "reference drain failed"

# Small batches (below the size at which a batch's events stream into
# PostgreSQL before its commit, so a paused instance between commits holds
# no lock); the shortest session the harness's broker allows, so a pause of a
# few seconds outlives it.
schema="it_chaosfence_$run_id"
migrate_schema "$schema"
# A deferred trigger sleeps once per transaction of the second instance's sessions, at its COMMIT.
psql_val "$schema" "
  CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    IF current_setting('application_name') = 'zombie'
       AND current_setting('chaos.slowed', true) IS DISTINCT FROM 'yes' THEN
      PERFORM set_config('chaos.slowed', 'yes', true);
      PERFORM pg_sleep(0.2);
    END IF;
    RETURN NULL;
  END \$\$;
  CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE ON consumer_offsets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();" >/dev/null
write_config "$work/run.conf" "$schema" "$prefix" "$prefix-run" "[ingest]" "batch_max_events = 100" \
    "[kafka]" "session.timeout.ms = 2000" "heartbeat.interval.ms = 300" "partition.assignment.strategy = range"
start_instance keeper "$work/run.conf" --exit-at-end --http off
keeper=$instance_pid
started() { (($(offsets_stored "$schema") > 0)); }
wait_until 60 started || fail "the first instance stored nothing"
# Live (no --exit-at-end): it stays in the group until the test stops it, once fenced.
start_instance zombie "$work/run.conf" --http off
zombie=$instance_pid
zombie_assigned() { grep -q '^<6>assigned ' "$work/zombie.log"; }
wait_alive=$zombie wait_until 60 zombie_assigned || fail "the second instance was not assigned partitions"

# next_offsets SCHEMA: "topic partition next_offset" of every partition stored, sorted.
next_offsets() { psql_val "$1" "SELECT topic, partition, next_offset FROM consumer_offsets ORDER BY 1, 2" | tr '|' ' '; }
# Every partition's end, as the reference drain stored it.
ends=$(next_offsets "$ref_schema")

fenced=0
for ((attempt = 1; attempt <= pauses && fenced == 0; attempt++)); do
    random_between delay 0 500
    sleep_ms "$delay"
    kill -0 "$zombie" 2>/dev/null || { fail "the second instance ended before it was fenced"; break; }
    kill -STOP "$zombie"
    # A statement in flight (an asynchronous COMMIT, say) still ends on the server; one that
    # waits for the paused client (the COPY its event stream feeds) stays active: inside a transaction.
    settled() { ! instance_sessions zombie | grep -qx active; }
    wait_until 5 settled || true
    if instance_sessions zombie | grep -qvx idle; then
        echo "attempt $attempt: paused inside a transaction ($(instance_sessions zombie | sort -u | paste -sd,)); resumed"
        kill -CONT "$zombie"
        continue
    fi
    at_pause=$(next_offsets "$schema")
    # The keeper takes the zombie's partitions after its session times out. Which
    # partitions the zombie's read batch holds is not known here: the keeper must
    # have stored past where each partition not at its end stood.
    moved_on() {
        local now topic partition end was stored
        now=$(next_offsets "$schema")
        while read -r topic partition end; do
            was=$(awk -v t="$topic" -v p="$partition" '$1 == t && $2 == p { print $3 }' <<<"$at_pause")
            stored=$(awk -v t="$topic" -v p="$partition" '$1 == t && $2 == p { print $3 }' <<<"$now")
            ((${was:--1} < end)) || continue
            ((${stored:--1} > ${was:--1})) || return 1
        done <<<"$ends"
    }
    if ! wait_alive=$keeper wait_until 60 moved_on; then
        echo "attempt $attempt: the other instance did not store past every unfinished partition; resumed"
        kill -CONT "$zombie"
        break
    fi
    lines_before=$(grep -c '' "$work/zombie.log" || true)
    kill -CONT "$zombie"
    # Resumed, it either stores its stale batch (fenced) or learns first that its partitions are gone.
    reacted() { tail -n +"$((lines_before + 1))" "$work/zombie.log" | grep -q '^<6>assigned \|batch dropped'; }
    wait_alive=$zombie wait_until 60 reacted || true
    if tail -n +"$((lines_before + 1))" "$work/zombie.log" | grep -q 'batch dropped: .*another instance owns'; then
        fenced=1
    fi
    echo "attempt $attempt: paused $delay ms after the last; fenced on resuming: $([[ $fenced == 1 ]] && echo yes || echo no)"
done
assert_eq "the resumed instance's stale batch was fenced" 1 "$fenced"

kill -TERM "$zombie" 2>/dev/null
wait_instance code "$zombie" zombie 60
assert_eq "the resumed instance stopped cleanly (exit code)" 0 "$code"
wait_instance code "$keeper" keeper 480
assert_eq "the other instance finished the drain (exit code)" 0 "$code"
zombie_fenced=$(fenced_batches "$work/zombie.log")
assert_eq "the resumed instance counts fenced batches" yes "$( ((${zombie_fenced:-0} > 0)) && echo yes || echo no)"
echo "fenced batches: resumed instance ${zombie_fenced:-?}, other $(fenced_batches "$work/keeper.log")"
assert_eq "consumed everything once" "$total" "$(offsets_stored "$schema")"
assert_eq "tables equal one instance's" "$(table_digest "$ref_schema")" "$(table_digest "$schema")"

drop_schemas "$ref_schema" "$schema"
finish
