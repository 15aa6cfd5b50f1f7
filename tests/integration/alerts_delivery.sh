#!/bin/bash
# Alert webhooks, end to end: mentord's sender thread delivers rows of the
# alerts outbox (inserted here with psql, as the analytics will) to real
# receivers (tests/tools/webhook_receiver.py, which checks signatures with
# its own code) over HTTP and HTTPS. Delivered and accepted once per
# webhook-id; retries through 500s; TLS verified against ca_path; 410
# disables a route; unresolvable hosts and bad URLs fail clearly; old
# alerts are recorded, not sent; the per-lead rate limit holds the excess;
# nothing is lost across a restart with the receiver down; and consumption
# goes on meanwhile.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

receiver_py=$here/../tools/webhook_receiver.py
prefix="alerts-$run_id"
schema="it_alerts_$run_id"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

generate "$prefix" --agents 6 --days 2 --seed 41 2>"$work/gen.log"
read -r voc aqm roster _ < <(generated_counts "$work/gen.log")
produced=$((voc + aqm + roster))

# --- Certificates: two private CAs; mentord trusts only the first.
tls=$work/tls
mkdir -p "$tls"
for ca in ca1 ca2; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=mentord test $ca" \
        -keyout "$tls/$ca.key" -out "$tls/$ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
        -keyout "$tls/srv-$ca.key" -out "$tls/srv-$ca.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/ext"
    openssl x509 -req -in "$tls/srv-$ca.csr" -CA "$tls/$ca.pem" -CAkey "$tls/$ca.key" -CAcreateserial -days 2 \
        -extfile "$tls/ext" -out "$tls/srv-$ca.pem" 2>/dev/null
done

# --- Secrets. L1's file holds two (a rotation): its receiver knows only the second.
secret_new="whsec_$(head -c 24 /dev/urandom | base64)"
printf '# rotating: old first\nwhsec_%s\n%s\n' "$(head -c 24 /dev/urandom | base64)" "$secret_new" >"$work/secret-L1"
printf 'a raw secret, not base64\n' >"$work/secret-raw"

declare -A port=()
# start_receiver NAME [receiver options...]: sets port[NAME] once it listens.
start_receiver() {
    local name=$1
    shift
    mkdir -p "$work/$name.bodies"
    rm -f "$work/$name.port"
    python3 "$receiver_py" --port-file "$work/$name.port" --accepted "$work/$name.accepted" --log "$work/$name.log" \
        --bodies "$work/$name.bodies" "$@" 2>>"$work/$name.err" &
    pids+=($!)
    disown $!  # killed at the end without a word from the shell
    wait_until 10 test -s "$work/$name.port" || fail "receiver $name did not start"
    port[$name]=$(cat "$work/$name.port")
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_receiver r1 --secret "$secret_new"
start_receiver r2 --secret "$secret_new" --fail-first 3
start_receiver r3 --secret "$secret_new" --cert "$tls/srv-ca1.pem" --key "$tls/srv-ca1.key"
start_receiver r4 --secret "$secret_new" --cert "$tls/srv-ca2.pem" --key "$tls/srv-ca2.key"
start_receiver r5 --secret "$secret_new" --status 410
start_receiver raw --secret "a raw secret, not base64"
start_receiver slow --secret "$secret_new" --sleep 30
port_down=$(free_port)  # nothing listens here until the restart scenario

write_config "$work/run.conf" "$schema" "$prefix" "$prefix" "[alerts]" "poll_ms = 200" "retry_base_ms = 200" \
    "max_age_seconds = 3600" "request_timeout_ms = 20000" "connect_timeout_ms = 1000" "ca_path = $tls/ca1.pem" \
    "max_per_lead_per_hour = 3" "allow_private = true"  # the receivers listen on 127.0.0.1
# Every wait below ends at once if mentord dies (wait_alive), instead of running out its time.
start_mentord() {
    "$MENTORD_BIN" --config "$work/run.conf" --http off 2>>"$work/mentord.log" &
    pid=$!
    pids+=("$pid")
    wait_alive=$pid
}
start_mentord
migrated() { [[ $(psql_val "$schema" "SELECT count(*) FROM schema_migrations WHERE version = 2" 2>/dev/null) == 1 ]]; }
wait_until 60 migrated || fail "migration 002 was not applied"

sql() { psql_val "$schema" "$1"; }
# route LEAD URL [FORMAT] [SECRET_FILE]
route() {
    local ref=NULL
    [[ -n ${4:-} ]] && ref="'file:$4'"
    sql "INSERT INTO team_leads (team_lead_id, webhook_url, body_format, secret_ref)
         VALUES ('$1', '$2', '${3:-json}', $ref)
         ON CONFLICT (team_lead_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url,
             body_format = EXCLUDED.body_format, secret_ref = EXCLUDED.secret_ref" >/dev/null
}
# alert ID LEAD [KIND] [AGE] [PROGRAM]: a pending alert whose event happened AGE ago (default a minute),
# of PROGRAM (default: default), named in the payload as the analytics name it.
alert() {
    local kind=${3:-low_score_trigger} program=${5:-default}
    sql "INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, created_at, program, payload)
         VALUES ('$1', '$kind', '$2', 'A0001', now() - interval '${4:-1 minute}', clock_timestamp(), '$program',
                 jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', '$1', 'kind', '$kind', 'program', '$program',
                     'occurred_at', now() - interval '${4:-1 minute}', 'team_lead_id', '$2', 'agent_id', 'A0001',
                     'behavior', 'empathy', 'score', 0.41, 'threshold', 0.55, 'n', 23, 'window_days', 28,
                     'mentor_id', 'A0042', 'reason', 'no mentor in the language'))" >/dev/null
}
status_of() { sql "SELECT status FROM alerts WHERE alert_id = '$1'"; }
is_status() { [[ $(status_of "$1") == "$2" ]]; }
all_status() { [[ $(sql "SELECT count(*) FILTER (WHERE status <> '$1') FROM alerts WHERE alert_id LIKE '$2'") == 0 ]]; }
accepted_count() {
    local n
    n=$(grep -cxF "$2" "$work/$1.accepted" 2>/dev/null) || true
    echo "${n:-0}"
}

# --- Plain HTTP, signed with a rotated secret, in the three body formats.
route L1 "http://127.0.0.1:${port[r1]}/hook" json "$work/secret-L1"
route L1s "http://127.0.0.1:${port[r1]}/slack" slack "$work/secret-L1"
route L1t "http://127.0.0.1:${port[r1]}/teams" teams "$work/secret-L1"
route Lraw "http://127.0.0.1:${port[raw]}/hook" json "$work/secret-raw"
for i in 1 2 3; do alert "a$i" L1; done
alert s1 L1s pairing_created '1 minute' acme-billing
alert t1 L1t pairing_completed '1 minute' acme-billing
alert raw1 Lraw fatal_behavior
wait_until 20 all_status sent 'a%' || fail "a1..a3 not all sent"
wait_until 20 is_status s1 sent || fail "s1 not sent"
wait_until 20 is_status t1 sent || fail "t1 not sent"
wait_until 20 is_status raw1 sent || fail "raw1 not sent"
for id in a1 a2 a3 s1 t1; do
    assert_eq "$id accepted once by its receiver (valid signature)" 1 "$(accepted_count r1 "$id")"
done
assert_eq "raw (non-whsec) secret: raw1 accepted once" 1 "$(accepted_count raw raw1)"
assert_eq "no request refused for its signature" 0 "$(grep -c ' 401 ' "$work/r1.log" "$work/raw.log" | awk -F: '{ s += $2 } END { print s + 0 }')"
assert_eq "json body is the payload" "a1 low_score_trigger default" \
    "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["alert_id"], d["kind"], d["program"])' "$work/r1.bodies/a1.json")"
assert_eq "slack body has text and blocks" "yes" \
    "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print("yes" if d["text"].startswith("[acme-billing] New pairing: A0001 with A0042") and d["blocks"] else "no")' "$work/r1.bodies/s1.json")"
assert_eq "slack title names the program" "[acme-billing] New pairing: A0001 with A0042" \
    "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["blocks"][0]["text"]["text"])' "$work/r1.bodies/s1.json")"
assert_eq "teams body is an Adaptive Card message" "message application/vnd.microsoft.card.adaptive AdaptiveCard" \
    "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); a = d["attachments"][0]; print(d["type"], a["contentType"], a["content"]["type"])' "$work/r1.bodies/t1.json")"
assert_eq "teams title names the program" "[acme-billing] Pairing completed: A0001 with A0042" \
    "$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(d["attachments"][0]["content"]["body"][0]["inlines"][0]["text"])' "$work/r1.bodies/t1.json")"
assert_eq "a1..a3: one attempt each, HTTP 200, sent_at set" "3 3 200 3" \
    "$(sql "SELECT concat_ws(' ', count(*), sum(attempts), max(last_status_code), count(sent_at)) FROM alerts WHERE alert_id LIKE 'a%'")"
latency=$(sql "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at) * 1000)::numeric)
                 || ' ' || round(max(extract(epoch FROM sent_at - created_at) * 1000)::numeric)
               FROM alerts WHERE alert_id IN ('a1', 'a2', 'a3', 's1', 't1', 'raw1')")
echo "insert-to-delivery latency (ms): median max = $latency"

# --- 500 three times, then 200: each alert delivered and accepted once.
route L2 "http://127.0.0.1:${port[r2]}/hook" json "$work/secret-L1"
alert b1 L2
alert b2 L2
wait_until 60 all_status sent 'b%' || fail "b1, b2 not sent after the 500s"
assert_eq "b1 accepted once" 1 "$(accepted_count r2 b1)"
assert_eq "b2 accepted once" 1 "$(accepted_count r2 b2)"
assert_eq "receiver answered 500 three times" 3 "$(grep -c ' 500 ' "$work/r2.log")"
assert_eq "attempts of b1 + b2 = 2 successes + 3 failures" 5 "$(sql "SELECT sum(attempts) FROM alerts WHERE alert_id LIKE 'b%'")"

# --- HTTPS: the CA of ca_path works; a certificate from another CA fails and is retried.
route L3 "https://127.0.0.1:${port[r3]}/hook" json "$work/secret-L1"
route L4 "https://127.0.0.1:${port[r4]}/hook" json "$work/secret-L1"
alert c1 L3
alert d1 L4
wait_until 20 is_status c1 sent || fail "c1 (https, trusted CA) not sent"
assert_eq "c1 accepted once over https" 1 "$(accepted_count r3 c1)"
tls_retried() { [[ $(sql "SELECT status = 'pending' AND attempts >= 2 AND last_error ILIKE '%certificate%' FROM alerts WHERE alert_id = 'd1'") == t ]]; }
wait_until 30 tls_retried || fail "d1 (untrusted CA) was not retried with a certificate error"
echo "d1 last_error: $(sql "SELECT last_error FROM alerts WHERE alert_id = 'd1'")"
assert_eq "d1 never accepted" 0 "$(accepted_count r4 d1)"

# --- 410 Gone: the alert is dead, the route disabled, later alerts for the lead are not attempted.
route L5 "http://127.0.0.1:${port[r5]}/hook" json "$work/secret-L1"
alert e1 L5
wait_until 20 is_status e1 dead || fail "e1 not dead after 410"
assert_eq "e1: 410 recorded, route L5 disabled" "410 true" \
    "$(sql "SELECT a.last_status_code || ' ' || (l.webhook_disabled_at IS NOT NULL) FROM alerts a, team_leads l
            WHERE a.alert_id = 'e1' AND l.team_lead_id = 'L5'")"
alert e2 L5
wait_until 20 is_status e2 dead || fail "e2 (disabled route) not dead"
assert_eq "e2 never attempted" "0 route L5 is disabled" \
    "$(sql "SELECT attempts || ' ' || split_part(last_error, ':', 1) FROM alerts WHERE alert_id = 'e2'")"
assert_eq "the 410 receiver got exactly one request" 1 "$(wc -l <"$work/r5.log")"
sql "UPDATE team_leads SET webhook_url = 'http://127.0.0.1:${port[r1]}/new' WHERE team_lead_id = 'L5'" >/dev/null
assert_eq "a new webhook_url enables the route again" f \
    "$(sql "SELECT webhook_disabled_at IS NOT NULL FROM team_leads WHERE team_lead_id = 'L5'")"

# --- Unresolvable host and a bad URL: a clear last_error, retried, the daemon unharmed.
route L6 "http://mentord-test.invalid/hook" json
route L7 "not a url at all" json
alert f1 L6
alert g1 L7
failed_with() { [[ $(sql "SELECT status = 'pending' AND attempts >= 1 AND last_error ILIKE '$2' FROM alerts WHERE alert_id = '$1'") == t ]]; }
wait_until 30 failed_with f1 '%resolve%' || fail "f1: no resolve error"
wait_until 30 failed_with g1 '%URL%' || fail "g1: no URL error"
echo "f1 last_error: $(sql "SELECT last_error FROM alerts WHERE alert_id = 'f1'")"
echo "g1 last_error: $(sql "SELECT last_error FROM alerts WHERE alert_id = 'g1'")"
assert_eq "mentord still running" yes "$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"

# --- No route: waits, then goes by the default route '*' once it has one.
alert n1 L-none
wait_until 20 failed_with n1 'no webhook route%' || fail "n1: no 'no webhook route' error"
route '*' "http://127.0.0.1:${port[r1]}/default" json "$work/secret-L1"
wait_until 30 is_status n1 sent || fail "n1 not sent by the default route"
assert_eq "n1 accepted once via the default route" 1 "$(accepted_count r1 n1)"

# --- Older than max_age_seconds at first send: recorded, never sent.
alert old1 L1 low_score_trigger '2 hours'
wait_until 20 is_status old1 recorded || fail "old1 not recorded"
assert_eq "old1 never reached the receiver" 0 "$(grep -c '^old1 ' "$work/r1.log" || true)"

# --- Per-lead rate limit (3 per hour): 5 alerts, 3 sent, 2 wait for the hour.
route L8 "http://127.0.0.1:${port[r1]}/l8" json "$work/secret-L1"
for i in 1 2 3 4 5; do alert "h$i" L8; done
settled() { [[ $(sql "SELECT count(*) FROM alerts WHERE alert_id LIKE 'h%' AND (status = 'sent' OR next_attempt_at > now() + interval '50 minutes')") == 5 ]]; }
wait_until 30 settled || fail "h1..h5 not settled"
assert_eq "rate limit: sent and held back" "sent 3, pending 2" \
    "$(sql "SELECT 'sent ' || count(*) FILTER (WHERE status = 'sent') || ', pending ' || count(*) FILTER (WHERE status = 'pending')
            FROM alerts WHERE alert_id LIKE 'h%'")"

# --- The receiver down across a restart: nothing lost, accepted once.
route L9 "http://127.0.0.1:$port_down/hook" json "$work/secret-L1"
alert r1 L9
wait_until 20 failed_with r1 '%onnect%' || fail "r1: no connection error while the receiver is down"
# A receiver that takes 30 s (the timeout is 20 s) holds a request in flight during the stop.
route L10 "http://127.0.0.1:${port[slow]}/hook" json "$work/secret-L1"
alert w1 L10
in_flight() { [[ $(sql "SELECT next_attempt_at > now() + interval '15 seconds' FROM alerts WHERE alert_id = 'w1'") == t ]]; }
wait_until 20 in_flight || fail "w1 was not claimed"
stop_started=$(date +%s%N)
wait_alive=
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
stop_ms=$((($(date +%s%N) - stop_started) / 1000000))
echo "stop took $stop_ms ms with a request in flight"
assert_eq "mentord stops cleanly (exit code)" 0 "$code"
assert_eq "the stop did not wait for the slow receiver (under 5 s)" yes "$( ((stop_ms < 5000)) && echo yes || echo no)"
assert_eq "w1 handed back: pending, not counted as an attempt, due now" "pending 0 t" \
    "$(sql "SELECT concat_ws(' ', status, attempts, next_attempt_at <= now()) FROM alerts WHERE alert_id = 'w1'")"
route L10 "http://127.0.0.1:${port[r1]}/l10" json "$work/secret-L1"
assert_eq "the sender logged its totals" 1 "$(grep -c 'alerts: sender stopped: sent' "$work/mentord.log")"
assert_eq "r1 still pending after the stop" pending "$(status_of r1)"
start_receiver rdown --port "$port_down" --secret "$secret_new"
start_mentord
wait_until 60 is_status r1 sent || fail "r1 not sent after the restart"
assert_eq "r1 accepted once after the restart" 1 "$(accepted_count rdown r1)"
wait_until 30 is_status w1 sent || fail "w1 not sent after the restart"
assert_eq "w1 accepted once after the restart" 1 "$(accepted_count r1 w1)"

# --- Consumption went on meanwhile: every generated event stored.
stored_all() { (($(offsets_stored "$schema") >= produced)); }
wait_until 60 stored_all || fail "stored offsets did not reach $produced"
assert_eq "no webhook-id accepted twice anywhere" "" \
    "$(cat "$work"/*.accepted | sort | uniq -d | paste -sd' ')"
assert_eq "no secret in the log" 0 "$(grep -cF -e "${secret_new#whsec_}" -e 'a raw secret' "$work/mentord.log" || true)"

wait_alive=
kill -TERM "$pid"
wait "$pid" || fail "mentord exited non-zero"
assert_eq "no sanitizer report in the log" 0 "$(grep -cE 'runtime error|AddressSanitizer|LeakSanitizer' "$work/mentord.log" || true)"
psql_val public "DROP SCHEMA $schema CASCADE" >/dev/null
finish
