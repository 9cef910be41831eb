"""The sandbox's mailbox: email printed to the log and kept in files, listed on a page that exists only
with DEBUG on and the sandbox backend chosen."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.mail import send_mail

from connector.core.mailbox import read_mailbox
from tests.mail import signup_link_path

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_BACKEND = "connector.core.mailbox.SandboxEmailBackend"


@pytest.fixture
def sandbox_mail(settings, tmp_path):
    settings.MAILERS = {"default": {"BACKEND": SANDBOX_BACKEND, "OPTIONS": {"file_path": str(tmp_path)}}}
    settings.MAILBOX_DIR = str(tmp_path)
    settings.SANDBOX_MAILBOX = True
    return tmp_path


def test_the_sandbox_backend_prints_each_email_and_keeps_it(sandbox_mail, capsys):
    send_mail("First", "Open https://example.com/one/ now.", None, ["a@example.com"])
    send_mail("Second", "Über café: https://example.com/two/", None, ["b@example.com"])

    assert "Subject: First" in capsys.readouterr().out
    second, first = read_mailbox(sandbox_mail)
    assert (first.to, first.subject, first.links) == ("a@example.com", "First", ["https://example.com/one/"])
    assert second.body.startswith("Über café") and second.links == ["https://example.com/two/"]


@pytest.mark.django_db
def test_a_sandbox_sign_up_is_finished_from_the_mailbox_page(client, sandbox_mail):
    client.post("/accounts/signup/", {"business_name": "Sandbox Bakery", "email": "baker@example.com",
                                      "base_currency": "USD"})
    assert "sandbox mailbox" in client.get("/accounts/signup/check-email/").content.decode()

    page = client.get("/sandbox/mailbox/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "To baker@example.com" in text and "Confirm your email to finish signing up" in text
    assert client.post(signup_link_path(text), {"password": "a-long-unusual-passphrase"}).status_code == 302
    assert "Sandbox Bakery" in client.get("/dashboard/").content.decode()


def test_the_mailbox_page_is_not_there_otherwise(client, settings):
    settings.SANDBOX_MAILBOX = False

    assert client.get("/sandbox/mailbox/").status_code == 404


@pytest.mark.parametrize(("debug", "shown"), [("false", "False"), ("true", "True")])
def test_the_mailbox_needs_debug_even_with_the_sandbox_backend(debug, shown):
    env = {**{k: v for k, v in os.environ.items() if k not in ("DEBUG", "EMAIL_BACKEND")},
           "DJANGO_SETTINGS_MODULE": "connector.settings", "DEBUG": debug, "EMAIL_BACKEND": SANDBOX_BACKEND,
           "SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0="}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import "
                             "settings; print(settings.SANDBOX_MAILBOX)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.stdout.strip().splitlines()[-1] == shown, result.stderr
