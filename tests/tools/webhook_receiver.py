#!/usr/bin/env python3
"""A webhook receiver for the alert tests (python3 standard library only).

Serves POST on 127.0.0.1 over HTTP, or HTTPS with --cert/--key. Verifies the
Standard Webhooks signature with its own code (hmac, hashlib): the
webhook-signature header must hold a v1 signature of
"<webhook-id>.<webhook-timestamp>.<body>" under one of the --secret values
(whsec_<base64> decoded, anything else raw bytes), and the timestamp must be
within 5 minutes. Requests without a valid signature get 401 when secrets
are configured.

Files:
  --accepted FILE  one webhook-id per line, appended the first time an id is
                   accepted (2xx with a valid signature); a repeat of an
                   accepted id answers 200 and is not appended again
  --log FILE       one line per request: "<id> <status answered> <note>"
  --received FILE  one webhook-id per line, appended as each request arrives
                   (before any --sleep): a request in flight is in it, not in --log
  --bodies DIR     the body of each accepted alert, as DIR/<id>.json ('/' in an id as %2F)
  --port-file FILE the port it listens on, written once it listens
  --control FILE   optional JSON read on every request, overriding the flags
                   below: {"fail_first": N, "status": CODE, "sleep": S}

Behaviour flags: --fail-first N answers 500 to the first N requests;
--status CODE answers CODE to every request (410 for a removed hook);
--sleep S waits S seconds before answering.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

TOLERANCE_S = 300


def decode_secret(text):
    if text.startswith("whsec_"):
        return base64.b64decode(text[len("whsec_"):], validate=True)
    return text.encode()


def signature_valid(secrets, msg_id, timestamp, body, header):
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False, "bad timestamp"
    if abs(time.time() - ts) > TOLERANCE_S:
        return False, "timestamp outside tolerance"
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode() for k in secrets]
    for sig in (header or "").split(" "):
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        for e in expected:
            if hmac.compare_digest(e, value):
                return True, "signature ok"
    return False, "bad signature"


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.requests = 0
        self.accepted = set()
        self.secrets = [decode_secret(s) for s in args.secret]

    def behaviour(self):
        b = {"fail_first": self.args.fail_first, "status": self.args.status, "sleep": self.args.sleep}
        if self.args.control and os.path.exists(self.args.control):
            try:
                with open(self.args.control) as f:
                    b.update(json.load(f))
            except (OSError, ValueError):
                pass
        return b


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the --log file is the record
            pass

        def answer(self, code, note, msg_id):
            body = json.dumps({"status": code, "note": note}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if state.args.log:
                with state.lock, open(state.args.log, "a") as f:
                    f.write(f"{msg_id} {code} {note}\n")

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            msg_id = self.headers.get("webhook-id", "-")
            with state.lock:
                state.requests += 1
                n = state.requests
                if state.args.received:
                    with open(state.args.received, "a") as f:
                        f.write(msg_id + "\n")
            b = state.behaviour()
            if b.get("sleep"):
                time.sleep(float(b["sleep"]))
            if n <= int(b.get("fail_first") or 0):
                return self.answer(500, f"failing request {n}", msg_id)
            if b.get("status"):
                return self.answer(int(b["status"]), "told to", msg_id)
            if self.headers.get("Content-Type") != "application/json":
                return self.answer(415, "not application/json", msg_id)
            try:
                json.loads(body)
            except ValueError:
                return self.answer(400, "body is not JSON", msg_id)
            if state.secrets:
                ok, note = signature_valid(state.secrets, msg_id, self.headers.get("webhook-timestamp"), body,
                                           self.headers.get("webhook-signature"))
                if not ok:
                    return self.answer(401, note, msg_id)
            else:
                note = "unsigned"
            with state.lock:
                repeat = msg_id in state.accepted
                state.accepted.add(msg_id)
                if not repeat:
                    if state.args.accepted:
                        with open(state.args.accepted, "a") as f:
                            f.write(msg_id + "\n")
                    if state.args.bodies:
                        # Alert ids hold '/' (low_score_trigger:low/<event>/<behavior>): not a path.
                        name = msg_id.replace("%", "%25").replace("/", "%2F") + ".json"
                        with open(os.path.join(state.args.bodies, name), "wb") as f:
                            f.write(body)
            return self.answer(200, "repeat of an accepted id" if repeat else note, msg_id)

        def do_GET(self):
            self.answer(405, "POST only", "-")

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--secret", action="append", default=[])
    p.add_argument("--accepted")
    p.add_argument("--log")
    p.add_argument("--received")
    p.add_argument("--bodies")
    p.add_argument("--control")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0)
    args = p.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State(args)))
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
