"""Drives Waldur's own Python client (waldur-api-client, unchanged) against a running quotaplane.

Run by tests/api/waldur_client.rs with the environment it sets:
  QP_BASE          the server's base URL
  QP_STAFF_TOKEN   a key with the staff role
  QP_USER_TOKEN    a key with the user role, acting as QP_USER_UUID
  QP_USER_UUID     that user's UUID
  QP_CONSUMED      chat tokens already consumed for the user today
Exits 0 and prints OK when every check passes; otherwise exits non-zero naming the failed check.
"""

import datetime
import json
import os
import sys
import uuid

from waldur_api_client.api.chat_quota import chat_quota_set_quota, chat_quota_usage_retrieve
from waldur_api_client.client import AuthenticatedClient
from waldur_api_client.errors import UnexpectedStatus
from waldur_api_client.models.set_token_quota_request import SetTokenQuotaRequest


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


def status_of(call):
    """The status of an UnexpectedStatus the call raises (None when it succeeds)."""
    try:
        call()
    except UnexpectedStatus as error:
        return error.status_code
    return None


def main():
    base = os.environ["QP_BASE"]
    staff = AuthenticatedClient(base_url=base, token=os.environ["QP_STAFF_TOKEN"])
    user = AuthenticatedClient(base_url=base, token=os.environ["QP_USER_TOKEN"])
    user_uuid = uuid.UUID(os.environ["QP_USER_UUID"])
    consumed = int(os.environ["QP_CONSUMED"])

    # Staff sets the daily limit and makes the week unlimited; the month is left out.
    response = chat_quota_set_quota.sync_detailed(
        client=staff,
        body=SetTokenQuotaRequest(user_uuid=user_uuid, daily_limit=1000, weekly_limit=-1),
    )
    check(response.status_code == 200, f"set_quota answered {response.status_code}")
    check(response.parsed is None, "set_quota has no body")

    usage = chat_quota_usage_retrieve.sync(client=staff, user_uuid=user_uuid)
    check(usage.daily_limit == 1000, f"daily_limit {usage.daily_limit}")
    check(usage.daily_usage == consumed, f"daily_usage {usage.daily_usage} != {consumed}")
    check(usage.daily_remaining == 1000 - consumed, f"daily_remaining {usage.daily_remaining}")
    check(usage.weekly_limit == -1 and usage.weekly_remaining is None, "weekly is unlimited")
    check(usage.weekly_usage == consumed, f"weekly_usage {usage.weekly_usage}")
    check(usage.monthly_limit is None, "monthly limit is the system default")
    check(usage.monthly_system_default == -1, "monthly default is unlimited")
    check(usage.monthly_remaining is None, "an unlimited default leaves remaining null")

    now = datetime.datetime.now(datetime.timezone.utc)
    for name in ("daily_reset_at", "weekly_reset_at", "monthly_reset_at"):
        at = getattr(usage, name)
        check(at.utcoffset() == datetime.timedelta(0), f"{name} is UTC: {at}")
        check(at > now and (at.hour, at.minute, at.second) == (0, 0, 0), f"{name} is a coming midnight")
    check(usage.daily_reset_at - now <= datetime.timedelta(days=1), "the day resets within a day")
    check(usage.weekly_reset_at.weekday() == 0, "the week resets on a Monday")
    check(usage.monthly_reset_at.day == 1, "the month resets on the 1st")

    # An explicit null puts the daily limit back to the default; the week stays as it was.
    response = chat_quota_set_quota.sync_detailed(
        client=staff, body=SetTokenQuotaRequest(user_uuid=user_uuid, daily_limit=None)
    )
    check(response.status_code == 200, "set_quota with a null limit")

    # The user reads their own quota, as the client sends it (a hyphenated UUID).
    own = chat_quota_usage_retrieve.sync(client=user, user_uuid=user_uuid)
    check(own.daily_limit is None and own.daily_remaining is None, "daily back to the default")
    check(own.weekly_limit == -1, "weekly unchanged by a partial update")

    # What the client reports as unexpected: a user setting quotas, unknown and foreign users.
    forbidden = status_of(
        lambda: chat_quota_set_quota.sync_detailed(
            client=user, body=SetTokenQuotaRequest(user_uuid=user_uuid, daily_limit=1)
        )
    )
    check(forbidden == 403, f"a user may not set quotas: {forbidden}")
    unknown = status_of(lambda: chat_quota_usage_retrieve.sync(client=staff, user_uuid=uuid.uuid4()))
    check(unknown == 404, f"an unknown user is 404: {unknown}")
    foreign = status_of(lambda: chat_quota_usage_retrieve.sync(client=user, user_uuid=uuid.uuid4()))
    check(foreign == 403, f"another user's usage is 403 for a user: {foreign}")

    print(json.dumps(own.to_dict(), sort_keys=True))
    print("OK")


if __name__ == "__main__":
    main()
