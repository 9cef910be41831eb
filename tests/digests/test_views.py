"""The digest pages under Rules: list, create with field errors, edit, delete, CSRF, viewers read-only."""

import pytest
from django.test import Client

from digests.models import Digest
from tests.conftest import _signed_in

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    data = {"name": "Weekly recap", "frequency": "weekly", "weekday": "4", "time": "16:00",
            "channel_id": "C0EXEC", "enabled": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def make(tenant, **fields) -> Digest:
    values = {"name": "Morning summary", "channel_id": "C0ACCOUNTS", "channel_name": "accounting",
              "frequency": "daily", "time": "09:00"} | fields
    return Digest.objects.create(tenant=tenant, **values)


def test_create_from_the_form_then_listed_under_rules(owner_client, tenant, channels):
    assert 'href="/rules/digests/"' in owner_client.get("/rules/").content.decode()

    response = owner_client.post("/rules/digests/new/", form_data())

    assert response.status_code == 302 and response.url == "/rules/digests/"
    digest = Digest.objects.for_tenant(tenant).get()
    assert (digest.name, digest.frequency, digest.weekday, digest.time.strftime("%H:%M"), digest.channel_name) == (
        "Weekly recap", "weekly", 4, "16:00", "exec-alerts")
    page = owner_client.get("/rules/digests/").content.decode()
    assert "Weekly recap" in page and "Every Friday at 16:00" in page and "#exec-alerts" in page


def test_field_errors_are_shown_and_nothing_is_saved(owner_client, channels):
    response = owner_client.post("/rules/digests/new/", form_data(weekday="", time="25:00", channel_id="C0THEIRS"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "A weekly digest needs a day of the week." in page
    assert "Give a time as HH:MM, 24-hour, e.g. 09:00 or 17:30." in page
    assert "Choose a channel of your Slack workspace." in page
    assert not Digest.objects.exists()


def test_edit_and_delete(owner_client, tenant, channels):
    digest = make(tenant)

    saved = owner_client.post(f"/rules/digests/{digest.pk}/", form_data(name="Evening", frequency="daily",
                                                                        weekday="", time="18:15"))
    assert saved.status_code == 302
    digest.refresh_from_db()
    assert (digest.name, digest.frequency, digest.weekday, digest.time.strftime("%H:%M")) == (
        "Evening", "daily", None, "18:15")

    assert "Delete this digest?" in owner_client.get(f"/rules/digests/{digest.pk}/delete/").content.decode()
    assert owner_client.post(f"/rules/digests/{digest.pk}/delete/").status_code == 302
    assert not Digest.objects.exists()


def test_viewers_see_digests_read_only(viewer_client, tenant, channels):
    digest = make(tenant)

    page = viewer_client.get("/rules/digests/").content.decode()
    assert "Morning summary" in page and "/rules/digests/new/" not in page and "Delete" not in page
    edit = viewer_client.get(f"/rules/digests/{digest.pk}/").content.decode()
    assert "<fieldset disabled>" in edit and "Save digest" not in edit
    assert viewer_client.post(f"/rules/digests/{digest.pk}/", form_data(name="Mine")).status_code == 403
    assert viewer_client.post(f"/rules/digests/{digest.pk}/delete/").status_code == 403
    assert viewer_client.get("/rules/digests/new/").status_code == 403
    digest.refresh_from_db()
    assert digest.name == "Morning summary"


def test_another_tenants_digest_is_not_found(owner_client, other_tenant, channels):
    theirs = make(other_tenant, name="Their digest", channel_id="C0THEIRS")

    assert "Their digest" not in owner_client.get("/rules/digests/").content.decode()
    assert owner_client.get(f"/rules/digests/{theirs.pk}/").status_code == 404
    assert owner_client.post(f"/rules/digests/{theirs.pk}/delete/").status_code == 404
    assert Digest.objects.filter(pk=theirs.pk).exists()


def test_a_post_without_the_csrf_token_is_refused(owner, tenant, channels):
    client = _signed_in(Client(enforce_csrf_checks=True), owner, tenant)

    response = client.post("/rules/digests/new/", form_data())

    assert response.status_code == 403
    assert not Digest.objects.exists()
