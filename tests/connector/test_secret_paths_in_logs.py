"""Emailed links carry their secret in the path (invitations, "link your Slack account", password resets,
sign-ups, webhook URLs): neither Django's 4xx warnings nor gunicorn's access log may show it."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from gunicorn.config import Config

from connector.core.access_log import RedactingLogger
from connector.core.logging import JsonFormatter
from tenants.models import Invitation, SlackLinkRequest
from tenants.slack_links import slack_link_offer

pytestmark = pytest.mark.django_db


def _django_log_lines(caplog) -> list[str]:
    return [JsonFormatter().format(r) for r in caplog.records if r.name == "django.request"]


def test_an_invitation_link_in_djangos_warning_is_redacted(owner_client, tenant, caplog):
    owner_client.post("/accounts/settings/invitations/", {"email": "ada@example.com", "role": "admin"})
    path = re.search(r"https://connector\.example\.com(/accounts/invitations/[\w-]+/)", mail.outbox[0].body).group(1)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    Invitation.objects.filter(tenant=tenant).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert Client().get(path).status_code == 410

    lines = _django_log_lines(caplog)
    assert any("Gone: /accounts/invitations/<redacted>/" in line for line in lines), lines
    assert token not in caplog.text and not any(token in line for line in lines)


def test_a_slack_link_in_djangos_warning_is_redacted(tenant, caplog):
    link = slack_link_offer(tenant=tenant, team_id="T1", slack_user_id="U1")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    SlackLinkRequest.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    assert Client().get(f"/accounts/slack/link/{token}/").status_code == 410

    lines = _django_log_lines(caplog)
    assert any("Gone: /accounts/slack/link/<redacted>/" in line for line in lines), lines
    assert token not in caplog.text


@pytest.mark.parametrize(("path", "shown"), [
    ("/accounts/invitations/{token}/", "/accounts/invitations/<redacted>/"),
    ("/accounts/slack/link/{token}/", "/accounts/slack/link/<redacted>/"),
    ("/accounts/reset/MQ/{token}/", "/accounts/reset/MQ/<redacted>/"),
    ("/accounts/signup/verify/{token}/", "/accounts/signup/verify/<redacted>/"),
])
def test_gunicorns_access_log_file_never_holds_a_link_token(tmp_path, path, shown):
    token = "Zq3xY9abcdEFGH_ijkl-mnopQRSTuvwxYZ0123456789"
    access_log = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(access_log))
    log = RedactingLogger(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": path.format(token=token), "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": path.format(token=token), "QUERY_STRING": "", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": f"https://example.com{path.format(token=token)}"}
    log.access(mock.Mock(status="200 OK", sent=30, headers=[]), mock.Mock(headers=[]), environ,
               timedelta(milliseconds=3))
    for handler in log.access_log.handlers:
        handler.flush()

    text = access_log.read_text()
    assert f'"GET {shown} HTTP/1.1" 200' in text and token not in text


def test_the_pages_around_a_password_reset_keep_their_paths(tmp_path):
    """Only the token goes: Django's own `set-password` step and the done page stay readable."""
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    log = RedactingLogger(cfg)
    for path in ("/accounts/reset/MQ/set-password/", "/accounts/reset/done/"):
        environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": path,
                   "QUERY_STRING": "", "REMOTE_ADDR": "10.0.0.1"}
        log.access(mock.Mock(status="200 OK", sent=30, headers=[]), mock.Mock(headers=[]), environ,
                   timedelta(milliseconds=3))
    for handler in log.access_log.handlers:
        handler.flush()

    text = (tmp_path / "access.log").read_text()
    assert '"GET /accounts/reset/MQ/set-password/ HTTP/1.1"' in text and '"GET /accounts/reset/done/ HTTP/1.1"' in text


