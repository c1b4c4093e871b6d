#!/usr/bin/env python3
"""Overlapping notices with a fallback cascade, against the mock providers.

Publishes NOTICES notices to RESIDENTS residents (an SMS and an email
each), 0.1 s apart, with SMS at 1 000/s and an email step 1 s later
unless the SMS was delivered (the mocks send no receipts, so every email
goes). Then stops the mocks, which print per channel the messages,
recipients and duplicates they received (docs/BENCHMARKS.md, "Duplicates
and the busiest second").

    cargo build --release -p tocsin -p tocsin-testkit
    scripts/duplicate-hunt.py [--tocsin target/release/tocsin] [--notices 60] [--residents 200]

Only the standard library; everything runs in a temporary directory.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

TOKEN = "duplicate-hunt-admin-token-0123456789"
CASCADE = """
[rates.sms]
per_second = 1000

[policy.fallback]
unplanned = [
  { channels = ["sms"] },
  { channels = ["email"], after_secs = 1, unless = "delivered" },
]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def wait_listening(base, deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tocsin did not start")


def notice(k, zone):
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return {
        "kind": "unplanned",
        "category": "water",
        "title": f"Ремонт водогону №{k}",
        "cause": "Пошкодження труби",
        "starts_at": iso(now - 3600),
        "expected_end": iso(now + 2 * 86400),
        "area": {"zones": [zone]},
    }


def settled(base, ids):
    for i in ids:
        s = call(base, "GET", f"/api/v1/notices/{i}/deliveries/summary")
        if sum(s["by_state"].get(k, 0) for k in ("pending", "queued", "sending")):
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tocsin", default="target/release/tocsin")
    ap.add_argument("--mocks", default="target/release/tocsin-mock-providers")
    ap.add_argument("--notices", type=int, default=60)
    ap.add_argument("--residents", type=int, default=200)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tocsin-duplicate-hunt-")
    config = os.path.join(work, "mocks.toml")
    mocks = subprocess.Popen([args.mocks, config], stdout=subprocess.PIPE, text=True)
    while not os.path.exists(config) or os.path.getsize(config) == 0:
        time.sleep(0.1)
    time.sleep(0.2)
    with open(config, "a") as f:
        f.write(CASCADE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TOCSIN_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
    env.pop("TOCSIN_CONFIG", None)
    log = open(os.path.join(work, "tocsin.log"), "w")
    serve = subprocess.Popen(
        [args.tocsin, "--config", config, "--data-dir", os.path.join(work, "data"),
         "serve", "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_listening(base)
        ring = [[25.30, 50.70], [25.35, 50.70], [25.35, 50.75], [25.30, 50.75], [25.30, 50.70]]
        zone = call(base, "POST", "/api/v1/zones", {
            "type": "Feature", "properties": {"name": "Місто"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}})["id"]
        lines = "\n".join(json.dumps({"language": "uk", "zones": [zone], "contacts": [
            {"channel": "sms", "address": f"+38066{i:07d}"},
            {"channel": "email", "address": f"r{i}@lutsk.example"}]})
            for i in range(args.residents))
        call(base, "POST", "/api/v1/residents/import", lines.encode(), "application/x-ndjson")
        ids = []
        for k in range(args.notices):
            ids.append(call(base, "POST", "/api/v1/notices", notice(k, zone))["id"])
            time.sleep(0.1)
        end = time.time() + 300
        while not settled(base, ids) and time.time() < end:
            time.sleep(0.5)
        time.sleep(3)
        print(f"{args.notices} notices x {args.residents} residents, "
              f"{args.notices * args.residents} deliveries per channel")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        mocks.send_signal(signal.SIGTERM)
        out, _ = mocks.communicate(timeout=30)
        lines = out.splitlines()
        last = max((i for i, l in enumerate(lines) if "  |  " in l), default=None)
        print("\n".join(lines[last:]) if last is not None else "(no report)")


if __name__ == "__main__":
    main()
