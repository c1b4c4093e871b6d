#!/usr/bin/env python3
"""Import N synthetic residents into a running Tocsin and publish one notice
to all of them, timing the import and the fan-out until every delivery has
settled. Standard library only.

    cargo build --release
    TOCSIN_ADMIN_TOKEN=dev ./target/release/tocsin serve --data-dir /tmp/tocsin-load &
    TOCSIN_ADMIN_TOKEN=dev python3 scripts/load-check.py --residents 100000

Residents get an SMS and an FCM contact each (simulated providers), spread
over a 30 x 30 km square around Lutsk; the notice targets the whole square.
"""

import argparse
from datetime import datetime, timedelta, timezone
import json
import os
import random
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--url", default="http://127.0.0.1:8080")
p.add_argument("--residents", type=int, default=100_000)
p.add_argument("--seed", type=int, default=1)
args = p.parse_args()
token = os.environ["TOCSIN_ADMIN_TOKEN"]


def call(method, path, body=None, content_type="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(args.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")


rng = random.Random(args.seed)
lat0, lon0 = 50.60, 25.10
lines = []
for i in range(args.residents):
    lines.append(json.dumps({
        "language": rng.choice(["uk", "pl", "en"]),
        "location": {"lat": lat0 + rng.random() * 0.27, "lon": lon0 + rng.random() * 0.42},
        "contacts": [
            {"channel": "sms", "address": f"+38067{i:07d}"},
            {"channel": "fcm", "address": f"token-{i}"},
        ],
    }))
body = "\n".join(lines).encode()

t = time.monotonic()
imported = call("POST", "/api/v1/residents/import", body, "application/x-ndjson")["imported"]
import_s = time.monotonic() - t
print(f"import: {imported} residents ({len(body) / 1e6:.1f} MB NDJSON) in {import_s:.2f} s "
      f"= {imported / import_s:,.0f} residents/s")

ring = [[lon0, lat0], [lon0 + 0.42, lat0], [lon0 + 0.42, lat0 + 0.27], [lon0, lat0 + 0.27], [lon0, lat0]]
notice = {
    "kind": "planned", "category": "water", "title": "Load check", "cause": "measurement",
    # Relative: messages of works that have ended expire instead of going out.
    "starts_at": datetime.now(timezone.utc).isoformat(),
    "expected_end": (datetime.now(timezone.utc) + timedelta(hours=8)).isoformat(),
    "area": {"geometry": {"type": "Polygon", "coordinates": [ring]}},
}
t = time.monotonic()
created = call("POST", "/api/v1/notices", notice)
accept_s = time.monotonic() - t
print(f"publish: {created['recipients']} recipients, {created['deliveries']} deliveries accepted in {accept_s:.2f} s")
while True:
    s = call("GET", f"/api/v1/notices/{created['id']}/deliveries/summary")
    busy = sum(s["by_state"].get(k, 0) for k in ("pending", "queued", "sending"))
    if busy == 0:
        break
    time.sleep(0.2)
total_s = time.monotonic() - t
print(f"fan-out: {s['total']} deliveries settled {total_s:.2f} s after the request "
      f"= {s['total'] / total_s:,.0f} deliveries/s; states {s['by_state']}")
