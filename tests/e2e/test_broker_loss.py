"""Redis (the broker, and the pacing state) lost while deliveries are pending and webhooks keep coming:
web answers, the worker reconnects by itself (same process), beat's sweep finds the lost work again, and
every message is posted exactly once."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from sandbox.stack import METRICS_TOKEN
from tests.e2e.conftest import channel_id, messages, wait_for

SETTLE = 240  # seconds: lost drains come back with beat's next sweep (every 60 s), lost webhooks after its grace


def _texts(stack, channel, since) -> list[str]:
    return [m["text"] for m in messages(stack, channel, since)]


def _webhook_statuses(stack) -> list:
    hooks = stack.freshbooks("GET", "/_control/webhooks", params={"name": "invoice.create", "limit": 1000})["webhooks"]
    return [(h.get("attempts") or [{}])[-1].get("status") for h in hooks]


def _metrics(stack) -> dict:
    response = requests.get(f"{stack.web_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                            timeout=10)
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_redis_restarts_lose_nothing_and_the_processes_keep_running(stack, connected):
    accounting = channel_id(stack, "accounting")
    response = connected.post("/api/v1/rules/", json={"name": "All invoices", "events": ["invoice.create"],
                                                      "channel_id": accounting})
    assert response.status_code == 201, response.text
    stack.slack("POST", "/_control/settings", json={"post_answer_seconds": 0.5})  # posts stay in flight
    pids = {name: stack.processes[name].pid for name in ("web", "worker", "beat")}
    before = stack.slack("GET", "/_control/stats")
    clients = [f"Broker Client {n:02d}" for n in range(8)]
    try:
        for client in clients[:6]:
            stack.freshbooks("POST", "/_control/invoices", json={"amount": "120.00", "organization": client})
        # One channel at one post per second: most of the six are still waiting when Redis goes.
        wait_for(lambda: 1 <= len(_texts(stack, accounting, connected.since_ts)) < 6, timeout=60,
                 message="the first posts, with others pending")
        stack.restart_redis()  # empty: queued drains and pacing state gone
        wait_for(lambda: len(_texts(stack, accounting, connected.since_ts)) >= 3, timeout=SETTLE,
                 message="posting goes on after the restart")
        stack.stop_redis()
        for client in clients[6:]:  # webhooks while Redis is down
            stack.freshbooks("POST", "/_control/invoices", json={"amount": "130.00", "organization": client})
        wait_for(lambda: all(s is not None for s in _webhook_statuses(stack)) and len(_webhook_statuses(stack)) == 8,
                 timeout=60, message="the webhooks sent while Redis is down are answered")
        assert set(_webhook_statuses(stack)) == {200}  # nothing refused: the intake kept them
        stack.start_redis()

        wait_for(lambda: len(_texts(stack, accounting, connected.since_ts)) >= len(clients), timeout=SETTLE,
                 message="every invoice posted")
    finally:
        stack.slack("POST", "/_control/settings", json={"post_answer_seconds": 0})
    texts = _texts(stack, accounting, connected.since_ts)
    assert sorted(c for c in clients for t in texts if c in t) == clients  # each exactly once
    assert len(texts) == len(clients)
    assert stack.slack("GET", "/_control/stats")["duplicates"] == before["duplicates"]
    # The same processes throughout: none exited and had to be started again.
    assert {name: stack.processes[name].pid for name in pids} == pids
    assert all(stack.processes[name].poll() is None for name in pids)
    assert "Unrecoverable error" not in stack.log_text("worker")
    # The web process serves what the worker counted (one multiprocess directory for the machine). Slack
    # shows a message before the worker has its answer and records the attempt: wait for the last one.
    posted = ("mlc_slack_posts_total", (("outcome", "posted"),))
    wait_for(lambda: _metrics(stack).get(posted, 0) >= len(clients), timeout=30, message="posts counted")
    metrics = _metrics(stack)
    assert metrics[("mlc_webhooks_received_total", (("outcome", "received"),))] >= len(clients)
    assert metrics[("mlc_post_latency_seconds_count", ())] >= len(clients)
    assert requests.get(f"{stack.web_url}/metrics", timeout=10).status_code == 401
