#!/usr/bin/env python3
"""Sends N requests of one kind over one keep-alive connection, one at a time (for
bench/instructions.sh: the server's work per request, not its concurrency).

    requests.py PORT MODE N SECRET      MODE: healthz | whoami | none | check | hot
"""
import http.client
import json
import sys

PATHS = {"healthz": "/healthz", "whoami": "/v1/whoami", "none": "/v1/usage/consume",
         "check": "/v1/usage/check", "hot": "/v1/usage/consume"}
METRICS = {"none": "bench.none", "check": "bench.hot", "hot": "bench.hot"}


def main() -> None:
    port, mode, count, secret = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode not in PATHS:
        sys.exit(f"requests.py: unknown mode {mode!r} (one of {', '.join(PATHS)})")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {} if mode == "healthz" else {"Authorization": f"Bearer {secret}"}
    body = None
    if mode in METRICS:
        headers["Content-Type"] = "application/json"
        body = json.dumps({"subject": {"bench": "hot"}, "metric": METRICS[mode], "amount": 1})
    method = "GET" if body is None else "POST"
    for _ in range(count):
        conn.request(method, PATHS[mode], body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        # The hot limit refuses once spent: a 429 is as much work as a 200.
        if response.status not in (200, 429):
            sys.exit(f"requests.py: {method} {PATHS[mode]} answered {response.status}")


if __name__ == "__main__":
    main()
