"""The dashboard says when the app last checked with FreshBooks and what the webhooks had missed."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.freshbooks.models import CatchUpState
from tests.freshbooks.conftest import make_connection

pytestmark = pytest.mark.django_db


def status_text(client) -> str:
    page = client.get("/dashboard/").content.decode()
    found = re.search(r'<p id="catch-up-status">(.*?)</p>', page, re.S)
    text = re.sub(r"</?time[^>]*>", "", found.group(1)) if found else ""  # inline: no word break
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def state_for(tenant, **fields) -> CatchUpState:
    connection = make_connection(tenant)
    now = timezone.now()
    return CatchUpState.objects.create(tenant=tenant, connection=connection, history_before=now, watermark=now,
                                       next_read_at=now + timedelta(minutes=5), **fields)


def test_last_check_and_nothing_missed(owner_client, tenant):
    state_for(tenant, last_success_at=timezone.now() - timedelta(minutes=3, seconds=10), last_new_count=0)
    assert status_text(owner_client) == "Last checked with FreshBooks: 3 minutes ago, 0 missed."


def test_a_read_that_found_missed_changes_says_how_many_and_when(owner_client, tenant):
    now = timezone.now()
    state_for(tenant, last_success_at=now - timedelta(minutes=1), last_new_count=0,
              last_missed_at=now - timedelta(hours=2), last_missed_count=4, missed_total=6)
    text = status_text(owner_client)
    assert text.startswith("Last checked with FreshBooks: a minute ago, 0 missed.")
    assert "Missed The last time a check found changes the notifications had not brought: 4, 2" in text
    assert "(6 in all)" in text and "FreshBooks may be dropping notifications" in text


def test_before_the_first_check(owner_client, tenant, settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 15
    make_connection(tenant)
    assert status_text(owner_client) == "Not checked with FreshBooks yet: the first check runs within 15 minutes."


def test_off(owner_client, tenant, settings):
    settings.CATCH_UP_INTERVAL_MINUTES = 0
    state_for(tenant, last_success_at=timezone.now())
    assert status_text(owner_client) == "Catch-up reads from FreshBooks are off."


def test_nothing_shown_without_freshbooks(owner_client):
    assert status_text(owner_client) == ""
