"""The stand-ins as their own processes: the documented commands start them, they log one line per
request, and a state file keeps their state across a restart."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    def __init__(self, module: str, *args: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.handle = subprocess.Popen([sys.executable, "-m", module, "--port", str(self.port), *args], cwd=ROOT,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env=os.environ | {"PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/_control/state", timeout=0.5)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{module} did not start: {self.output}")

    def stop(self) -> str:
        if self.handle.poll() is None:
            self.handle.send_signal(signal.SIGTERM)
        self.output = self.handle.communicate(timeout=10)[0]
        return self.output


@pytest.fixture
def processes():
    started = []

    def start(module, *args):
        process = Process(module, *args)
        started.append(process)
        return process
    yield start
    for process in started:
        if process.handle.poll() is None:
            process.stop()


def test_freshbooks_process_logs_each_request_and_keeps_state_across_restarts(processes, tmp_path):
    state = tmp_path / "freshbooks.json"
    first = processes("sandbox.freshbooks", "--state-file", str(state))
    invoice = requests.post(f"{first.url}/_control/invoices", json={"amount": "321.00"}).json()["invoice"]
    log = first.stop()

    second = processes("sandbox.freshbooks", "--state-file", str(state))
    minted = requests.post(f"{second.url}/_control/tokens", json={}).json()
    fetched = requests.get(f"{second.url}/accounting/account/{minted['account_id']}/invoices/invoices/"
                           f"{invoice['id']}", headers={"Authorization": f"Bearer {minted['access_token']}"})

    assert "POST /_control/invoices 200" in log
    assert log.count("GET /_control/state") >= 1
    assert fetched.status_code == 200
    assert fetched.json()["response"]["result"]["invoice"]["amount"]["amount"] == "321.00"


def test_slack_process_takes_its_settings_from_flags(processes):
    slack = processes("sandbox.slack", "--events-url", "http://127.0.0.1:9/slack/events/",
                      "--signing-secret", "from-a-flag")

    state = requests.get(f"{slack.url}/_control/state").json()
    token = requests.post(f"{slack.url}/_control/tokens", json={}).json()["access_token"]
    posted = requests.post(f"{slack.url}/api/chat.postMessage", headers={"Authorization": f"Bearer {token}"},
                           json={"channel": "#general", "text": "hello"}).json()
    log = slack.stop()

    assert state["settings"]["events_url"] == "http://127.0.0.1:9/slack/events/"
    assert "signing_secret" not in state["settings"]
    assert posted["ok"] is True
    assert "POST /api/chat.postMessage 200" in log
    assert token not in log
