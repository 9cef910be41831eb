"""REST API /api/v1/digests/ (contract): CRUD with the contract fields, validation, tenancy and roles."""

from datetime import UTC, datetime

import pytest
import time_machine

from audit.models import ActivityLog
from digests.models import Digest

pytestmark = pytest.mark.django_db

URL = "/api/v1/digests/"


def body(**overrides) -> dict:
    return {"name": "Morning summary", "channel_id": "C0ACCOUNTS", "frequency": "daily", "time": "09:00",
            **overrides}


@time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_create_and_read_back_with_the_contract_fields(owner_api, tenant, channels):
    tenant.time_zone = "Pacific/Auckland"  # 12:00 UTC is 01:00 on Mar 11 there (NZDT, UTC+13)
    tenant.save()

    response = owner_api.post(URL, body(), format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    digest = Digest.objects.for_tenant(tenant).get()
    assert created == {
        "id": digest.pk, "name": "Morning summary", "channel_id": "C0ACCOUNTS", "channel_name": "accounting",
        "frequency": "daily", "weekday": None, "time": "09:00", "enabled": True, "last_sent_at": None,
        "next_due_at": "2026-03-10T20:00:00Z",  # 09:00 on Mar 11 in Auckland
        "created_at": created["created_at"], "updated_at": created["updated_at"],
    }
    assert owner_api.get(f"{URL}{digest.pk}/").json() == created
    assert owner_api.get(URL).json()["results"] == [created]
    assert ActivityLog.objects.for_tenant(tenant).filter(action="digest.created").count() == 1


@time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=UTC), tick=False)  # a Tuesday
def test_weekly_needs_a_weekday_and_patch_moves_the_next_send(owner_api, tenant, channels):
    refused = owner_api.post(URL, body(frequency="weekly"), format="json")
    assert refused.status_code == 400
    assert refused.json()["extra"]["fields"] == {"weekday": ["A weekly digest needs a day of the week."]}

    created = owner_api.post(URL, body(frequency="weekly", weekday=0, time="17:30"), format="json").json()
    assert created["next_due_at"] == "2026-03-16T17:30:00Z"  # next Monday, tenant in UTC

    changed = owner_api.patch(f"{URL}{created['id']}/", {"weekday": 2}, format="json")
    assert changed.status_code == 200
    assert changed.json()["next_due_at"] == "2026-03-11T17:30:00Z"  # Wednesday, this week

    daily = owner_api.patch(f"{URL}{created['id']}/", {"frequency": "daily"}, format="json").json()
    assert (daily["weekday"], daily["next_due_at"]) == (None, "2026-03-10T17:30:00Z")


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"time": "9am"}, "time", "Give a time as HH:MM, 24-hour, e.g. 09:00 or 17:30."),
    ({"time": "24:00"}, "time", "Give a time as HH:MM, 24-hour, e.g. 09:00 or 17:30."),
    ({"weekday": 3}, "weekday", "Only weekly digests have a day of the week: leave it empty."),
    ({"channel_id": "C0THEIRS"}, "channel_id", "Choose a channel of your Slack workspace."),
    ({"channel_id": "C0NOWHERE"}, "channel_id", "Choose a channel of your Slack workspace."),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_saved(owner_api, tenant, channels, overrides, field,
                                                                   message):
    response = owner_api.post(URL, body(**overrides), format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"][field] == [message]
    assert not Digest.objects.exists()


def test_serializer_refuses_an_unknown_frequency_and_a_blank_name(owner_api, channels):
    response = owner_api.post(URL, body(frequency="hourly", name="  "), format="json")
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"frequency", "name"}
    assert not Digest.objects.exists()


def test_another_tenants_digest_is_not_found(owner_api, other_api, channels):
    theirs = other_api.post(URL, body(channel_id="C0THEIRS"), format="json").json()

    assert owner_api.get(f"{URL}{theirs['id']}/").status_code == 404
    assert owner_api.patch(f"{URL}{theirs['id']}/", {"enabled": False}, format="json").status_code == 404
    assert owner_api.delete(f"{URL}{theirs['id']}/").status_code == 404
    assert owner_api.get(URL).json()["results"] == []
    assert Digest.objects.get(pk=theirs["id"]).enabled


def test_viewers_read_but_do_not_change(owner_api, viewer_api, channels):
    created = owner_api.post(URL, body(), format="json").json()

    assert viewer_api.get(URL).json()["results"] == [created]
    assert viewer_api.post(URL, body(name="Mine"), format="json").status_code == 403
    assert viewer_api.patch(f"{URL}{created['id']}/", {"enabled": False}, format="json").status_code == 403
    assert viewer_api.delete(f"{URL}{created['id']}/").status_code == 403
    assert Digest.objects.get().enabled


def test_delete_and_disable(owner_api, tenant, channels):
    created = owner_api.post(URL, body(), format="json").json()

    disabled = owner_api.patch(f"{URL}{created['id']}/", {"enabled": False}, format="json").json()
    assert disabled["enabled"] is False
    assert owner_api.delete(f"{URL}{created['id']}/").status_code == 204
    assert owner_api.get(f"{URL}{created['id']}/").status_code == 404
    assert list(ActivityLog.objects.for_tenant(tenant).filter(action__startswith="digest.")
                .values_list("action", flat=True).order_by("id")) == [
        "digest.created", "digest.changed", "digest.deleted"]


def test_an_edit_logs_what_changed_and_an_edit_that_changes_nothing_logs_nothing(owner_api, tenant, channels):
    created = owner_api.post(URL, body(), format="json").json()
    url = f"{URL}{created['id']}/"

    owner_api.patch(url, {"time": "07:30", "name": "Morning money"}, format="json")
    owner_api.patch(url, {"time": "07:30"}, format="json")

    entries = ActivityLog.objects.for_tenant(tenant).filter(action="digest.changed")
    assert [e.details["changes"] for e in entries] == [
        {"name": [created["name"], "Morning money"], "time": [created["time"][:5], "07:30"]}]
    assert Digest.objects.get().name == "Morning money"


@time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=UTC), tick=False)
def test_a_new_time_zone_moves_the_next_send_to_the_same_local_time(owner_client, owner_api, tenant, channels):
    created = owner_api.post(URL, body(time="09:00"), format="json").json()
    assert created["next_due_at"] == "2026-03-11T09:00:00Z"  # tenant on UTC

    response = owner_client.post("/accounts/settings/", {"name": tenant.name, "base_currency": "USD",
                                                         "time_zone": "America/Los_Angeles", "retention_days": 90})

    assert response.status_code in (200, 302)
    assert owner_api.get(f"{URL}{created['id']}/").json()["next_due_at"] == "2026-03-10T16:00:00Z"  # 09:00 PDT
