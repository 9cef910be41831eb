"""The web process's log (gunicorn's access lines and Django's warnings, as the Procfile runs it) names
webhook paths without their token."""

import requests

from tests.e2e.conftest import wait_for

LOGGED_PATH = "/webhooks/freshbooks/<redacted>/"


def test_the_web_log_never_holds_a_webhook_token(stack, connected):
    callbacks = [c for c in stack.freshbooks("GET", "/_control/callbacks")["callbacks"]
                 if c["account_id"] == connected.account_id]
    url = callbacks[0]["uri"]
    token = url.rstrip("/").rsplit("/", 1)[-1]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert requests.post(url, data="name=invoice.create&object_id=1", headers=form, timeout=10).status_code == 401
    assert requests.post(url, data="name=invoice.create&object_id=%00", headers=form, timeout=10).status_code == 400
    assert requests.post(url, data="name=invoice.create&object_id=1", headers=form | {
        "X-FreshBooks-Hmac-SHA256": "AAAA"}, timeout=10).status_code == 401

    def logged():
        log = stack.log_text("web")
        return f'"POST {LOGGED_PATH} HTTP/1.1" 400' in log and f"Bad Request: {LOGGED_PATH}" in log

    wait_for(logged, timeout=10)
    log = stack.log_text("web")
    assert f'"POST {LOGGED_PATH} HTTP/1.1" 401' in log and f"Unauthorized: {LOGGED_PATH}" in log
    assert token not in log
