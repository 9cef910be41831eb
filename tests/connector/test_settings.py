"""Production settings refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ENCRYPTION_KEYS", "DEBUG")}
    env.update({"DJANGO_SETTINGS_MODULE": "connector.settings", "DEBUG": "false", **env_overrides})
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


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
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
         "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "DEBUG"}, "DJANGO_SETTINGS_MODULE": "connector.settings",
             "DEBUG": "false", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "connector.example.com",
             "ENCRYPTION_KEYS": "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0="},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True 31536000 ['connector.example.com']"
