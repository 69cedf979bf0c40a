#!/usr/bin/env python3
"""Seed a fresh quotaplane for bench/run.sh (stdlib only; psql for PostgreSQL).

Usage:
  QUOTAPLANE_BOOTSTRAP_TOKEN=... seed.py api URL
      Creates two tenants (A and B), an admin key each, and the limits the scenarios use
      through the API; prints "A_SECRET B_SECRET" on stdout.
  seed.py clone DATABASE_URL PREFIX METRIC SELECTOR COUNT
      Copies tenant A's limit `bench-hot` COUNT times in one SQL statement, as limits
      PREFIX0..PREFIX<COUNT-1> of METRIC, whose selector is SELECTOR (a JSON object in which
      "%d" becomes the copy's number). Bulk sets (10,000 spread limits, 100,000 for the memory
      scenario) are made this way: through the API they would take minutes.

Every limit is effectively unlimited (10^12), except `bench-exact` (EXACT units), which the
two-replica scenario drives past its end to check that exactly EXACT units are admitted.
Progress and errors go to stderr.
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
from urllib.parse import urlsplit

BIG = 1_000_000_000_000
EXACT = 2_000  # must match EXACT in bench/run.sh


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, base, token):
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        self.token = token

    def call(self, method, path, body, expect):
        data = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}",
                   "Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # Stale keep-alive connection: reopen once.
                self.conn.close()
                if attempt == 2:
                    raise
        if resp.status not in expect:
            sys.exit(f"seed: {method} {path} -> {resp.status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None


def limit(subject, metric, amount=BIG, per=None):
    body = {"subject": subject, "metric": metric, "amount": amount,
            "window": {"kind": "none"}, "blocking": True}
    if per:
        body["per"] = per
    return body


def tenant(system, name):
    made = system.call("POST", "/v1/tenants", {"name": name}, {201})
    key = system.call("POST", f"/v1/tenants/{made['id']}/api-keys",
                      {"roles": ["admin"], "description": "bench"}, {201})
    return key["secret"]


def api(base):
    token = os.environ.get("QUOTAPLANE_BOOTSTRAP_TOKEN") or sys.exit(
        "seed: QUOTAPLANE_BOOTSTRAP_TOKEN is not set")
    system = Client(base, token)
    secret_a, secret_b = tenant(system, "bench-a"), tenant(system, "bench-b")
    a, b = Client(base, secret_a), Client(base, secret_b)
    a.call("PUT", "/v1/limits/bench-hot", limit({"bench": "hot"}, "bench.hot"), {201})
    # First touch: one counter per user, and every request names a user never seen before.
    a.call("PUT", "/v1/limits/bench-fresh", limit({}, "bench.fresh", per=["user"]), {201})
    a.call("PUT", "/v1/limits/bench-exact",
           limit({"bench": "exact"}, "bench.exact", amount=EXACT), {201})
    b.call("PUT", "/v1/limits/bench-b", limit({"bench": "b"}, "bench.b"), {201})
    # Fail here, not in wrk, if the keys cannot use their limits.
    for client, subject, metric in ((a, "hot", "bench.hot"), (b, "b", "bench.b")):
        client.call("POST", "/v1/usage/check",
                    {"subject": {"bench": subject}, "metric": metric, "amount": 1}, {200})
    print(secret_a, secret_b)


CLONE_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, blocking, owner,
                    created_at, updated_at, per)
SELECT l.tenant_id, ? || n.i, replace(?, '%d', CAST(n.i AS TEXT)), ?, l.amount, l.window_spec,
       l.blocking, l.owner, l.created_at, l.updated_at, l.per
FROM limits l, n WHERE l.id = 'bench-hot'
"""

CLONE_PG = """
INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, blocking, owner,
                    created_at, updated_at, per)
SELECT l.tenant_id, :'prefix' || i, replace(:'selector', '%d', i::text), :'metric', l.amount,
       l.window_spec, l.blocking, l.owner, l.created_at, l.updated_at, l.per
FROM limits l, generate_series(0, :count - 1) AS i WHERE l.id = 'bench-hot'
"""


def clone(url, prefix, metric, selector, count):
    count = int(count)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):].split("?")[0]
        db = sqlite3.connect(path, timeout=30)
        with db:
            db.execute(CLONE_SQLITE, (count, prefix, selector, metric))
            # The statement's own rows (total_changes would add what triggers write).
            done = db.execute("SELECT changes()").fetchone()[0]
        db.close()
    else:
        out = subprocess.run(
            ["psql", "-qAt", "-v", "ON_ERROR_STOP=1", "-v", f"prefix={prefix}",
             "-v", f"selector={selector}", "-v", f"metric={metric}", "-v", f"count={count}",
             url],
            input=CLONE_PG, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            sys.exit(f"seed: psql failed: {out.stderr.strip()}")
        done = count
    if done != count:
        sys.exit(f"seed: cloned {done} limits, expected {count}")
    print(f"seed: {count} limits {prefix}* on {metric}", file=sys.stderr)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "api":
        api(sys.argv[2])
    elif len(sys.argv) == 7 and sys.argv[1] == "clone":
        clone(*sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
