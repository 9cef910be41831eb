"""Production settings refuse to start without their secrets; a mail server set by EMAIL_URL is used."""

import base64
import os
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _django(code: str = "", *, without=(), **env: str) -> subprocess.CompletedProcess:
    """A fresh Python that sets Django up on the real settings module, then runs `code`: with this process's
    environment less the names `without`, plus `env`."""
    environ = {k: v for k, v in os.environ.items() if k not in without}
    environ.update({"DJANGO_SETTINGS_MODULE": "connector.settings", **env})
    return subprocess.run([sys.executable, "-c", "; ".join(filter(None, ["import django", "django.setup()", code]))],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def _start(env_overrides: dict) -> subprocess.CompletedProcess:
    return _django(without=("SECRET_KEY", "ENCRYPTION_KEYS", "DEBUG"), DEBUG="false", **env_overrides)


@pytest.mark.parametrize(("env", "missing"), [
    ({"ENCRYPTION_KEYS": "x"}, "SECRET_KEY"),
    ({"SECRET_KEY": "s"}, "ENCRYPTION_KEYS"),
    ({}, "SECRET_KEY and ENCRYPTION_KEYS"),
])
def test_production_refuses_to_start_without_secrets(env, missing, tmp_path):
    result = _start(env)
    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr


def test_production_starts_with_secrets_and_is_strict():
    result = _django("from django.conf import settings as s; "
                     "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS)",
                     without=("DEBUG",), DEBUG="false", SECRET_KEY="s" * 50, ALLOWED_HOSTS="connector.example.com",
                     ENCRYPTION_KEYS="Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0=")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True 31536000 ['connector.example.com']"


@pytest.mark.parametrize(("minutes", "read"), [("15", "15"), ("0.5", "0.5")])
def test_catch_up_interval_is_whole_minutes_or_a_fraction_of_one(minutes, read):
    result = _django("from django.conf import settings as s; print(s.CATCH_UP_INTERVAL_MINUTES)",
                     CATCH_UP_INTERVAL_MINUTES=minutes)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == read  # "15", not "15.0", in the dashboard's sentence


class _SmtpServer(socketserver.StreamRequestHandler):
    """Just enough SMTP to take one message: what a mail relay sees of it (sender, recipients, login, data)."""

    def handle(self):
        seen = self.server.seen
        self.wfile.write(b"220 relay ready\r\n")
        while line := self.rfile.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-relay\r\n250 AUTH PLAIN\r\n")
            elif verb == b"AUTH":
                seen["login"] = base64.b64decode(line.split()[2]).split(b"\0")[1:]
                self.wfile.write(b"235 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                seen["data"] = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # MAIL FROM, RCPT TO
                seen.setdefault(verb.decode(), []).append(line.decode().strip().lower())
                self.wfile.write(b"250 ok\r\n")


def test_email_url_sends_through_that_mail_server_with_its_login():
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpServer) as server:
        server.seen = {}
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        result = _django("from django.core.mail import send_mail; "
                         "send_mail('Confirm your email', 'Open the link.', None, ['baker@example.com'])",
                         without=("DEBUG", "EMAIL_BACKEND"), DEBUG="true",
                         EMAIL_URL=f"smtp://relay%40example.com:s3cret@127.0.0.1:{port}")
        server.shutdown()
    assert result.returncode == 0, result.stderr
    assert server.seen["login"] == [b"relay@example.com", b"s3cret"]
    assert server.seen["RCPT"] == ["rcpt to:<baker@example.com>"]
    assert b"Subject: Confirm your email" in server.seen["data"]
    assert "s3cret" not in result.stdout + result.stderr


def test_the_smtp_backend_without_email_url_uses_a_relay_on_this_machine():
    result = _django("from django.core.mail import mailers; b = mailers.default; print(b.host, b.port, b.timeout)",
                     without=("DEBUG", "EMAIL_URL"), DEBUG="true",
                     EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["localhost", "25", "10"]
