"""A client generated from openapi/openapi.json (openapi-python-client), unchanged, against the
real binary: whoami, PUT /v1/limits/{id}, then consume until refused.

Usage: drive.py BASE_URL ADMIN_SECRET EXPECTED_TENANT_ID
The generated package `quotaplane_client` must be importable (PYTHONPATH). Exits non-zero, with
the reason, on the first answer that is not the one expected.
"""

import sys

from quotaplane_client import AuthenticatedClient
from quotaplane_client.api.limits import put_limit
from quotaplane_client.api.tenants import whoami
from quotaplane_client.api.usage import consume
from quotaplane_client.models import (
    LimitPut,
    LimitResponse,
    QuotaExceededProblem,
    UsageDecision,
    UsageRequest,
    UsageRequestSubject,
    WindowBody,
    WindowBodyKind,
    Whoami,
)


def expect(condition, what):
    if not condition:
        sys.exit(f"generated client: {what}")


def main():
    base, secret, tenant_id = sys.argv[1:4]
    client = AuthenticatedClient(base_url=base, token=secret)

    me = whoami.sync(client=client)
    expect(isinstance(me, Whoami), f"whoami parsed as {type(me).__name__}: {me}")
    expect(str(me.tenant_id) == tenant_id, f"whoami tenant {me.tenant_id}, wanted {tenant_id}")
    expect("admin" in me.roles, f"whoami roles {me.roles}")

    limit = LimitPut(amount=2, metric="generated", window=WindowBody(kind=WindowBodyKind("calendar_day")))
    created = put_limit.sync_detailed("generated-client", client=client, body=limit)
    expect(created.status_code == 201, f"PUT /v1/limits/generated-client: {created.status_code}")
    expect(isinstance(created.parsed, LimitResponse), f"PUT parsed as {created.parsed!r}")
    expect(created.parsed.id == "generated-client", f"PUT answered id {created.parsed.id}")

    subject = UsageRequestSubject.from_dict({"team": "t1"})
    usage = UsageRequest(amount=2, metric="generated", subject=subject)
    admitted = consume.sync_detailed(client=client, body=usage)
    expect(admitted.status_code == 200, f"consume: {admitted.status_code}")
    expect(isinstance(admitted.parsed, UsageDecision), f"consume parsed as {admitted.parsed!r}")
    expect(admitted.parsed.allowed, "consume not allowed")
    expect([l.quota_id for l in admitted.parsed.limits] == ["generated-client"], "consume limits")
    expect(admitted.parsed.limits[0].remaining == 0, "remaining after consume")

    refused = consume.sync_detailed(client=client, body=usage)
    expect(refused.status_code == 429, f"second consume: {refused.status_code}")
    expect(isinstance(refused.parsed, QuotaExceededProblem), f"429 parsed as {refused.parsed!r}")
    expect(refused.parsed.violated_policies == ["generated-client"], "violated policies")
    print("generated client: whoami, put_limit and consume answered as documented")


if __name__ == "__main__":
    main()
