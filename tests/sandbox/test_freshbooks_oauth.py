"""FreshBooks stand-in: authorize page, token endpoint (codes and refresh tokens work once), identity."""

import time
from urllib.parse import parse_qsl, urlsplit

import requests

from tests.sandbox.conftest import FB_CLIENT_ID, FB_CLIENT_SECRET, fb_authorize, fb_exchange


def _refresh(freshbooks, refresh_token: str) -> requests.Response:
    return requests.post(f"{freshbooks.url}/auth/oauth/token", data={
        "grant_type": "refresh_token", "client_id": FB_CLIENT_ID, "client_secret": FB_CLIENT_SECRET,
        "refresh_token": refresh_token, "redirect_uri": "https://app.example/fb/callback"})


def test_authorize_page_asks_to_allow_or_deny(freshbooks):
    page = requests.get(f"{freshbooks.url}/oauth/authorize", params={
        "client_id": FB_CLIENT_ID, "response_type": "code", "redirect_uri": "https://app.example/cb",
        "state": "abc"})

    assert page.status_code == 200
    assert "Authorize ml-connector?" in page.text
    assert "Allow" in page.text and "Deny" in page.text


def test_allow_redirects_with_code_and_state_and_deny_with_access_denied(freshbooks):
    common = {"client_id": FB_CLIENT_ID, "response_type": "code", "redirect_uri": "https://app.example/cb",
              "state": "xyz"}

    allowed = requests.post(f"{freshbooks.url}/oauth/authorize", data=common | {"decision": "allow"},
                            allow_redirects=False)
    denied = requests.post(f"{freshbooks.url}/oauth/authorize", data=common | {"decision": "deny"},
                           allow_redirects=False)

    allowed_query = dict(parse_qsl(urlsplit(allowed.headers["Location"]).query))
    assert allowed.headers["Location"].startswith("https://app.example/cb?")
    assert allowed_query["state"] == "xyz" and allowed_query["code"]
    assert dict(parse_qsl(urlsplit(denied.headers["Location"]).query)) == {"error": "access_denied", "state": "xyz"}


def test_unknown_client_gets_an_error_page_not_a_redirect(freshbooks):
    page = requests.get(f"{freshbooks.url}/oauth/authorize", allow_redirects=False, params={
        "client_id": "someone-else", "response_type": "code", "redirect_uri": "https://evil.example/cb"})

    assert page.status_code == 400
    assert "Location" not in page.headers


def test_code_exchange_returns_freshbooks_token_fields(freshbooks):
    answer = fb_exchange(freshbooks, fb_authorize(freshbooks))

    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 43200
    assert body["access_token"] and body["refresh_token"] and body["access_token"] != body["refresh_token"]
    assert "user:invoices:read" in body["scope"].split()
    assert abs(body["created_at"] - time.time()) < 5


def test_a_code_works_once(freshbooks):
    code = fb_authorize(freshbooks)

    first = fb_exchange(freshbooks, code)
    second = fb_exchange(freshbooks, code)

    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["error"] == "invalid_grant"


def test_a_code_expires_after_five_minutes(freshbooks):
    code = fb_authorize(freshbooks)
    record = freshbooks.store.data["codes"][code]
    assert 295 <= record["expires_at"] - time.time() <= 300
    record["expires_at"] = time.time() - 1  # five minutes later

    answer = fb_exchange(freshbooks, code)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_grant"


def test_code_exchange_accepts_json_as_the_node_sdk_sends(freshbooks):
    code = fb_authorize(freshbooks)

    answer = requests.post(f"{freshbooks.url}/auth/oauth/token", json={
        "grant_type": "authorization_code", "client_id": FB_CLIENT_ID, "client_secret": FB_CLIENT_SECRET,
        "code": code, "redirect_uri": "https://app.example/fb/callback"})

    assert answer.status_code == 200


def test_wrong_client_secret_is_invalid_client(freshbooks):
    answer = requests.post(f"{freshbooks.url}/auth/oauth/token", data={
        "grant_type": "authorization_code", "client_id": FB_CLIENT_ID, "client_secret": "wrong",
        "code": fb_authorize(freshbooks)})

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_a_refresh_token_works_once_and_gives_a_new_pair(freshbooks, fb_token):
    first = _refresh(freshbooks, fb_token["refresh_token"])
    reused = _refresh(freshbooks, fb_token["refresh_token"])

    assert first.status_code == 200
    assert first.json()["refresh_token"] != fb_token["refresh_token"]
    assert first.json()["access_token"] != fb_token["access_token"]
    assert reused.status_code == 401
    assert reused.json() == {"error": "invalid_grant", "error_description": reused.json()["error_description"]}
    assert _refresh(freshbooks, first.json()["refresh_token"]).status_code == 200


def test_identity_names_account_and_business_of_each_membership(freshbooks, fb_token):
    me = requests.get(f"{freshbooks.url}/auth/api/v1/users/me", headers=fb_token["headers"]).json()

    assert "result" not in me["response"]
    memberships = me["response"]["business_memberships"]
    assert len(memberships) == 1
    business = memberships[0]["business"]
    assert isinstance(business["id"], int) and business["id"] != memberships[0]["id"]
    assert business["account_id"].isalnum()


def test_several_businesses_with_the_control_switch(freshbooks, fb_token):
    requests.post(f"{freshbooks.url}/_control/businesses", json={"count": 3})

    me = requests.get(f"{freshbooks.url}/auth/api/v1/users/me", headers=fb_token["headers"]).json()

    accounts = [m["business"]["account_id"] for m in me["response"]["business_memberships"]]
    assert len(set(accounts)) == 3


def test_identity_with_a_bad_token_is_unauthenticated(freshbooks):
    answer = requests.get(f"{freshbooks.url}/auth/api/v1/users/me", headers={"Authorization": "Bearer nope"})

    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"


def test_revoked_tokens_stop_working(freshbooks, fb_token):
    requests.post(f"{freshbooks.url}/auth/oauth/revoke", json={
        "client_id": FB_CLIENT_ID, "client_secret": FB_CLIENT_SECRET, "token": fb_token["refresh_token"]})

    assert requests.get(f"{freshbooks.url}/auth/api/v1/users/me", headers=fb_token["headers"]).status_code == 401
    assert _refresh(freshbooks, fb_token["refresh_token"]).status_code == 401
