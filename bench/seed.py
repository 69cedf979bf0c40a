#!/usr/bin/env python3
"""Seed a fresh quotaplane for bench/run.sh (stdlib only).

Usage: QUOTAPLANE_BOOTSTRAP_TOKEN=... seed.py http://127.0.0.1:PORT

Creates a tenant, an admin key, the limit `bench-hot` and SPREAD limits
`bench-u<i>`, all effectively unlimited. Prints only the admin secret on
stdout; progress and errors go to stderr.
"""
import http.client
import json
import os
import sys
from urllib.parse import urlsplit

SPREAD = 10_000  # must match SPREAD in bench/scenario.lua
BIG = 1_000_000_000_000


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


def limit(subject, metric):
    return {"subject": subject, "metric": metric, "amount": BIG,
            "window": {"kind": "none"}, "blocking": True}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    token = os.environ.get("QUOTAPLANE_BOOTSTRAP_TOKEN") or sys.exit(
        "seed: QUOTAPLANE_BOOTSTRAP_TOKEN is not set")
    system = Client(sys.argv[1], token)
    tenant = system.call("POST", "/v1/tenants", {"name": "bench"}, {201})
    key = system.call("POST", f"/v1/tenants/{tenant['id']}/api-keys",
                      {"roles": ["admin"], "description": "bench"}, {201})
    secret = key["secret"]

    admin = Client(sys.argv[1], secret)
    admin.call("PUT", "/v1/limits/bench-hot",
               limit({"bench": "hot"}, "bench.hot"), {200, 201})
    for i in range(SPREAD):
        admin.call("PUT", f"/v1/limits/bench-u{i}",
                   limit({"user": f"u{i}"}, "bench.spread"), {200, 201})
        if (i + 1) % 2000 == 0:
            print(f"seed: {i + 1}/{SPREAD} spread limits", file=sys.stderr)
    # Fail here, not in wrk, if the admin key cannot use the hot limit.
    admin.call("POST", "/v1/usage/check",
               {"subject": {"bench": "hot"}, "metric": "bench.hot", "amount": 1}, {200})
    print(secret)


if __name__ == "__main__":
    main()
