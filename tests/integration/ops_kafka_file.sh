#!/bin/bash
# [kafka.file]: librdkafka properties read from systemd credentials
# ($CREDENTIALS_DIRECTORY). bootstrap.servers read from a credential reaches
# the broker (a drain stores every message); a secret read from a file is
# never logged, even at debug level; a missing credential is exit 3 naming the
# property and the path; on SIGHUP the files are read again and a missing one
# refuses the reload, the process running on.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

prefix="kfile-$run_id"
schema="it_kfile_$run_id"
secret="s3cret-$run_id"
generate "$prefix" --agents 3 --days 2 --seed 5 2>"$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
total=$((voc + aqm + roster))

creds=$work/credentials
mkdir -p "$creds"
printf '%s\n' "$MENTORD_KAFKA" >"$creds/brokers"
printf '%s\n' "$secret" >"$creds/kafka-password"
write_config "$work/run.conf" "$schema" "$prefix" "$prefix" '[log]' 'level = debug' '[kafka.file]' \
    'bootstrap.servers = credential:brokers' 'sasl.password = credential:kafka-password'
# MENTORD_KAFKA would override bootstrap.servers: the broker must come from the credential.
kafka_from_file() { env -u MENTORD_KAFKA CREDENTIALS_DIRECTORY="$creds" "$MENTORD_BIN" "$@"; }

# --- A drain through the broker named by the credential.
rc=0
kafka_from_file --config "$work/run.conf" --exit-at-end --http off 2>"$work/drain.log" || rc=$?
assert_eq "drain exit code" 0 "$rc"
assert_eq "messages stored" "$total" "$(offsets_stored "$schema")"
assert_eq "the secret is nowhere in the debug log" 0 "$(grep -c -- "$secret" "$work/drain.log" || true)"

# --- A missing credential: unreadable configuration, naming the property and the path.
write_config "$work/missing.conf" "$schema" "$prefix" "$prefix" '[kafka.file]' 'sasl.password = credential:nothing'
rc=0
kafka_from_file --config "$work/missing.conf" --check-config 2>"$work/missing.log" || rc=$?
assert_eq "exit code with a missing credential" 3 "$rc"
assert_eq "the message names the property and the path" 1 \
    "$(grep -c -F "[kafka.file] sasl.password: 'credential:nothing' ($creds/nothing)" "$work/missing.log" || true)"

# --- SIGHUP reads the files again: one gone refuses the reload, and mentord runs on.
pid=
trap '[[ -z $pid ]] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# Not through the function: $! must be mentord itself (env execs it), which the signals are for.
env -u MENTORD_KAFKA CREDENTIALS_DIRECTORY="$creds" "$MENTORD_BIN" --config "$work/run.conf" --http off \
    2>"$work/run.log" &
pid=$!
wait_alive=$pid wait_until 60 grep -q 'assigned ' "$work/run.log" || fail "mentord did not get its partitions"
mv "$creds/kafka-password" "$creds/kafka-password.away"
kill -HUP "$pid"
wait_alive=$pid wait_until 30 grep -q 'reload refused' "$work/run.log" || fail "no refused reload"
assert_eq "the refusal names the property and the path" 1 \
    "$(grep 'reload refused' "$work/run.log" | grep -c -F "[kafka.file] sasl.password: 'credential:kafka-password' ($creds/kafka-password)" || true)"
mv "$creds/kafka-password.away" "$creds/kafka-password"
kill -HUP "$pid"
wait_alive=$pid wait_until 30 grep -q 'configuration reloaded' "$work/run.log" || fail "the reload with the file back failed"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
assert_eq "exit code after SIGTERM" 0 "$rc"
assert_eq "the secret is nowhere in the log" 0 "$(grep -c -- "$secret" "$work/run.log" || true)"

finish
