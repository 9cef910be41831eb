"""Hostile input answers 4xx (or a 200 that ignores it), never a server error, and changes nothing."""

import json
import time

import pytest

from connector.slack.models import InstallationStatus, SlackInstallation
from routing.models import Rule
from tests.factories import DeliveryFactory, SlackInstallationFactory
from tests.slack.test_events import post as slack_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_install(tenant):
    return SlackInstallationFactory(tenant=tenant, team_id="T0TEAM", bot_user_id="U0BOT")


def _event(**overrides):
    payload = {"team_id": "T0TEAM", "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}",
               "event_time": int(time.time()), "event": {"type": "app_uninstalled"}}
    payload.update(overrides)
    return payload


@pytest.mark.parametrize("event", ["app_uninstalled", ["app_uninstalled"], 5, None, True])
def test_slack_event_that_is_not_an_object_is_ignored(client, active_install, event):
    response = slack_post(client, _event(event=event))

    assert response.status_code == 200
    active_install.refresh_from_db()
    assert active_install.status == InstallationStatus.ACTIVE


@pytest.mark.parametrize("tokens", [["U0BOT"], {"bot": 5}, {"bot": [5, None, {}]}, "U0BOT", {"bot": "U0BOT"}])
def test_tokens_revoked_with_odd_tokens_is_ignored(client, active_install, tokens):
    response = slack_post(client, _event(event={"type": "tokens_revoked", "tokens": tokens}))

    assert response.status_code == 200
    active_install.refresh_from_db()
    assert active_install.status == InstallationStatus.ACTIVE


@pytest.mark.parametrize("event_time", ["abc", [1], 1e20, -5, {"t": 1}, True])
def test_app_uninstalled_with_bad_event_time_still_revokes(client, active_install, event_time):
    response = slack_post(client, _event(event_time=event_time))

    assert response.status_code == 200
    active_install.refresh_from_db()
    assert active_install.status == InstallationStatus.REVOKED  # an unknown time skips only the age check


@pytest.mark.parametrize("team_id", ["T0\x00TEAM", "T0\ud800"])
def test_team_id_with_nul_or_lone_surrogate_is_refused(client, active_install, team_id):
    body = json.dumps(_event(team_id=team_id)).encode()  # ensure_ascii: the surrogate travels as \ud800

    assert slack_post(client, body).status_code == 400
    assert SlackInstallation.objects.get(pk=active_install.pk).status == InstallationStatus.ACTIVE


def test_deeply_nested_slack_body_is_a_400(client):
    body = b"[" * 100_000 + b"]" * 100_000

    assert slack_post(client, body).status_code == 400


@pytest.mark.parametrize("method", ["post", "patch"])
def test_rule_position_beyond_the_column_is_a_400(owner_api, tenant, method):
    rule = Rule.objects.create(tenant=tenant, name="Small", events=["invoice.create"], channel_id="C0SALES")
    body = {"name": "Big", "events": ["invoice.create"], "channel_id": "C0SALES", "position": 2147483648}

    url = "/api/v1/rules/" if method == "post" else f"/api/v1/rules/{rule.pk}/"
    response = getattr(owner_api, method)(url, body, format="json")

    assert response.status_code == 400
    assert "position" in response.json()["extra"]["fields"]
    assert not Rule.objects.filter(name="Big").exists()


@pytest.mark.parametrize("path", ["/api/v1/deliveries/", "/api/v1/ignored-events/"])
def test_huge_limit_is_capped_not_an_error(owner_api, tenant, path, settings):
    settings.API_MAX_PAGE_SIZE = 3
    DeliveryFactory.create_batch(5, tenant=tenant)

    response = owner_api.get(path, {"limit": "99999999999999999999"})

    assert response.status_code == 200
    assert len(response.json()["results"]) <= 3


def test_limit_of_a_billion_returns_at_most_the_maximum(owner_api, tenant, settings):
    settings.API_MAX_PAGE_SIZE = 3
    DeliveryFactory.create_batch(5, tenant=tenant)

    body = owner_api.get("/api/v1/deliveries/", {"limit": 10**9}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 3
    assert "limit=3" in body["next"]


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "0"}, {"offset": "-1"}, {"offset": "x"}])
def test_malformed_paging_is_a_400_in_the_error_shape(owner_api, params):
    response = owner_api.get("/api/v1/deliveries/", params)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize("value", ["abc", "", "1e3", "99999999999999999999999"])
def test_switching_to_a_malformed_business_is_a_clear_message(owner_client, value):
    response = owner_client.post("/accounts/businesses/switch/", {"tenant": value}, follow=True)

    assert response.status_code == 200
    assert "You are not a member of that business." in response.content.decode()


def test_nul_in_an_api_query_is_a_json_400(owner_api):
    response = owner_api.get("/api/v1/deliveries/", {"object_id": "a\x00b"})

    assert response.status_code == 400
    assert "NUL" in response.json()["message"]


def test_nul_in_a_form_is_a_400_and_saves_nothing(owner_client, tenant):
    response = owner_client.post("/accounts/settings/", {"name": "Evil\x00Name", "base_currency": "USD",
                                                         "time_zone": "UTC"})

    assert response.status_code == 400
    tenant.refresh_from_db()
    assert "\x00" not in tenant.name


def test_surrogate_in_an_api_body_is_a_400(owner_api):
    body = '{"name": "x\\ud800", "events": ["invoice.create"], "channel_id": "C1"}'

    response = owner_api.post("/api/v1/rules/", body, content_type="application/json")

    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/deliveries/abc/", "/api/v1/rules/abc/", "/api/v1/api-tokens/x/",
                                  "/api/v1/nothing-here", "/api/v2/"])
def test_unknown_api_paths_answer_json_404(owner_api, path):
    response = owner_api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"message", "extra"}


def test_an_oversized_api_body_is_a_json_400(owner_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    body = "name=" + "x" * 5000 + "&events=invoice.create&channel_id=C1"

    response = owner_api.post("/api/v1/rules/", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"message", "extra"}
