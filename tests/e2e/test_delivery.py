"""Delivery over real processes (FreshBooks stand-in -> signed webhook -> gunicorn -> Celery worker -> Slack
stand-in, with the rules choosing the channels): every event kind to the channels its rules name,
redelivered webhooks, a 429 storm, a broken channel fixed by changing the rule, replays and who may replay,
and an invoice's living card (edited in place, its news replied in its thread)."""

from collections import Counter

import requests

from tests.e2e.browser import Browser
from tests.e2e.conftest import PASSWORD, channel_id, last_line, messages, wait_for

SETTLE = 90  # seconds for a burst of events to be posted at Slack's pace of one per second per channel


def fb(stack, path: str, **body) -> dict:
    return stack.freshbooks("POST", path, json=body)


def webhooks_sent(stack) -> bool:
    """Every webhook the FreshBooks stand-in queued has been answered by the app."""
    return all(w["status"] != "pending" and w["attempts"]
               for w in stack.freshbooks("GET", "/_control/webhooks", params={"limit": 1000})["webhooks"])


def settled(operator) -> list[dict]:
    deliveries = operator.deliveries()
    return deliveries if deliveries and all(d["status"] in ("posted", "held", "failed") for d in deliveries) \
        else []


def add_rules(operator, *rules: dict) -> list[dict]:
    """Rules through the API; unless a rule says otherwise every event is a message of its own ("channel"),
    as these tests count one message per event."""
    created = []
    for body in rules:
        response = operator.post("/api/v1/rules/", json={"updates": "channel", **body})
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def test_an_invoice_reaches_the_channels_its_rules_name(stack, connected):
    accounting = channel_id(stack, "accounting")
    exec_alerts = channel_id(stack, "exec-alerts")
    for body in (
        {"name": "All invoices", "events": ["invoice.create"], "channel_id": accounting},
        {"name": "Big invoices", "events": ["invoice.create"], "min_amount": "5000.00", "currency": "USD",
         "channel_id": exec_alerts},
    ):
        response = connected.post("/api/v1/rules/", json=body)
        assert response.status_code == 201, response.text

    big = stack.freshbooks("POST", "/_control/invoices", json={"amount": "6000.00", "currency_code": "USD",
                                                                "organization": "Acme Plumbing"})
    small = stack.freshbooks("POST", "/_control/invoices", json={"amount": "4000.00", "currency_code": "USD",
                                                                  "organization": "Tiny Tools"})
    wait_for(lambda: len(messages(stack, accounting, connected.since_ts)) >= 2, timeout=60, message="two posts in #accounting")
    wait_for(lambda: len(messages(stack, exec_alerts, connected.since_ts)) >= 1, timeout=30, message="one post in #exec-alerts")
    texts = [m["text"] for m in messages(stack, accounting, connected.since_ts)]
    assert any("Acme Plumbing" in t for t in texts) and any("Tiny Tools" in t for t in texts)
    assert ["Acme Plumbing" in m["text"] for m in messages(stack, exec_alerts, connected.since_ts)] == [True]
    deliveries = connected.deliveries(status="posted")
    assert len(deliveries) == 3 and all(d["slack_ts"] for d in deliveries)
    assert big and small


def test_each_event_kind_reaches_exactly_the_channels_its_rules_name(stack, connected):
    accounting, exec_alerts = channel_id(stack, "accounting"), channel_id(stack, "exec-alerts")
    team, general = channel_id(stack, "accounting-team"), channel_id(stack, "general")
    add_rules(connected,
              {"name": "Invoices", "events": ["invoice.create", "invoice.sendByEmail", "invoice.update",
                                              "invoice.delete"], "channel_id": accounting},
              {"name": "Large invoices", "events": ["invoice.create"], "min_amount": "1000.00", "currency": "USD",
               "channel_id": exec_alerts},
              {"name": "Payments", "events": ["payment.create", "payment.update", "payment.delete"],
               "channel_id": exec_alerts},
              {"name": "Bills", "events": ["bill.create", "bill.update", "bill.delete"], "channel_id": team},
              {"name": "Expenses", "events": ["expense.create", "expense.update", "expense.delete"],
               "channel_id": general})

    steps = [  # (change, the deliveries it should add as (event, channel)); each step settles first, as
        # FreshBooks users do not delete a document in the second they made it (the app coalesces a change
        # it sees only after the object is gone into the deletion).
        (lambda: fb(stack, "/_control/invoices", amount="1500.00", currency_code="USD",
                    organization="Globex Corporation"),
         [("invoice.create", accounting), ("invoice.create", exec_alerts)]),
        (lambda: fb(stack, f"/_control/invoices/{ids['invoice']}/send"),
         [("invoice.sendByEmail", accounting), ("invoice.update", accounting)]),
        (lambda: fb(stack, f"/_control/invoices/{ids['invoice']}/pay", amount="600.00"),
         [("payment.create", exec_alerts), ("invoice.update", accounting)]),
        (lambda: fb(stack, f"/_control/payments/{ids['payment']}/update", amount="650.00"),
         [("payment.update", exec_alerts), ("invoice.update", accounting)]),
        (lambda: fb(stack, f"/_control/payments/{ids['payment']}/delete"),
         [("payment.delete", exec_alerts), ("invoice.update", accounting)]),
        (lambda: fb(stack, "/_control/bills", vendor_name="Initech Supplies", amount="320.00"),
         [("bill.create", team)]),
        (lambda: fb(stack, f"/_control/bills/{ids['bill']}/pay"), [("bill.update", team)]),
        (lambda: fb(stack, f"/_control/bills/{ids['bill']}/delete"), [("bill.delete", team)]),
        (lambda: fb(stack, "/_control/expenses", vendor="Bean Counter Cafe", amount="42.50"),
         [("expense.create", general)]),
        (lambda: fb(stack, f"/_control/expenses/{ids['expense']}/update", amount="45.00"),
         [("expense.update", general)]),
        (lambda: fb(stack, f"/_control/expenses/{ids['expense']}/delete"), [("expense.delete", general)]),
        (lambda: fb(stack, f"/_control/invoices/{ids['invoice']}/delete"), [("invoice.delete", accounting)]),
    ]
    ids: dict[str, str] = {}
    expected: Counter = Counter()
    for change, adds in steps:
        answer = change()
        for kind in ("invoice", "payment", "bill", "expense"):
            if kind in answer and kind not in ids:
                ids[kind] = answer[kind]["id"]
        expected.update(adds)
        wait_for(lambda: Counter((d["event"], d["channel_id"]) for d in settled(connected)) == expected,
                 timeout=30, message=f"deliveries {sorted(expected)}; have "
                 f"{sorted((d['event'], d['channel_id'], d['status']) for d in connected.deliveries())}")

    deliveries = connected.deliveries()
    assert {d["status"] for d in deliveries} == {"posted"}
    by_ts = {m["ts"]: m for ch in (accounting, exec_alerts, team, general)
             for m in messages(stack, ch, connected.since_ts)}
    assert len(by_ts) == len(deliveries)
    texts = [(d["event"], by_ts[d["slack_ts"]]["text"]) for d in sorted(deliveries, key=lambda d: d["id"])]
    wanted = {  # what each message must say: the amount, the counterparty, the change
        "invoice.create": ("Globex Corporation", "$1,500.00"),
        "invoice.sendByEmail": ("Globex Corporation", "0000001"),
        "payment.create": ("Globex Corporation", "$600.00"),
        "payment.update": ("Globex Corporation", "$600.00 → $650.00"),
        "payment.delete": ("Globex Corporation", "$650.00", "deleted"),
        "invoice.update": ("Globex Corporation", "0000001"),
        "bill.create": ("Initech Supplies", "$320.00"),
        "bill.update": ("Initech Supplies", "unpaid → paid"),
        "bill.delete": ("Initech Supplies", "$320.00", "deleted"),
        "expense.create": ("Bean Counter Cafe", "$42.50"),
        "expense.update": ("Bean Counter Cafe", "$42.50 → $45.00"),
        "expense.delete": ("Bean Counter Cafe", "$45.00", "deleted"),
        "invoice.delete": ("Globex Corporation", "$1,500.00", "deleted"),
    }
    for event, text in texts:
        assert all(part in text for part in wanted[event]), (event, text)
    updates = [t for e, t in texts if e == "invoice.update"]
    assert "draft → sent" in updates[0] and "sent → partial" in updates[1], updates
    assert stack.slack("GET", "/_control/stats")["duplicates"] == 0


def invoice_rule(operator, *channels: str) -> None:
    add_rules(operator, *({"name": f"Invoices to {c}", "events": ["invoice.create"], "channel_id": c}
                          for c in channels))


def posted(operator, count: int, timeout: float = SETTLE) -> list[dict]:
    return wait_for(lambda: len(d := operator.deliveries(status="posted")) >= count and d, timeout=timeout,
                    message=f"{count} deliveries posted; have "
                    f"{[(d['event'], d['status']) for d in operator.deliveries()]}")


def test_a_redelivered_webhook_is_posted_once(stack, connected):
    accounting = channel_id(stack, "accounting")
    add_rules(connected, {"name": "Invoices", "events": ["invoice.create", "invoice.update"],
                          "channel_id": accounting})
    invoice = fb(stack, "/_control/invoices", amount="75.00", organization="Echo Echo Ltd")
    posted(connected, 1)
    sent = fb(stack, f"/_control/invoices/{invoice['invoice']['id']}/send")
    posted(connected, 2)

    # FreshBooks retries both the create and the update (same body, same signature).
    retried = [invoice["events"][-1]] + [e for e in sent["events"] if e["name"] == "invoice.update"]
    for event in retried:
        fb(stack, f"/_control/events/{event['id']}/redeliver")
    wait_for(lambda: webhooks_sent(stack), timeout=30, message="the redeliveries answered")
    answers = [a["status"] for e in retried for w in stack.freshbooks(
        "GET", "/_control/webhooks", params={"object_id": e["object_id"], "name": e["name"]})["webhooks"]
        for a in w["attempts"]]
    assert answers.count(200) >= 4  # the app took each one twice, gladly
    stack.manage("sweep")
    wait_for(lambda: not any(d["status"] != "posted" for d in connected.deliveries()), timeout=10,
             message="nothing left to post")

    assert sorted(d["event"] for d in connected.deliveries()) == ["invoice.create", "invoice.update"]
    in_channel = messages(stack, accounting, connected.since_ts)
    assert len(in_channel) == 2 and "Echo Echo Ltd" in in_channel[0]["text"]
    assert "draft → sent" in in_channel[1]["text"]


def test_a_429_storm_still_posts_every_message_exactly_once(stack, connected):
    accounting, exec_alerts = channel_id(stack, "accounting"), channel_id(stack, "exec-alerts")
    invoice_rule(connected, accounting, exec_alerts)
    stack.slack("POST", "/_control/faults", json={"ratelimit_rate": 0.5, "seed": 8})
    before = stack.slack("GET", "/_control/stats")
    clients = [f"Storm Client {n:02d}" for n in range(8)]
    for n, client in enumerate(clients):
        fb(stack, "/_control/invoices", amount=f"{100 + n}.00", organization=client)

    done = posted(connected, 2 * len(clients), timeout=SETTLE)
    stats = stack.slack("GET", "/_control/stats")
    assert stats["random_ratelimited"] > before["random_ratelimited"]  # Slack did push back
    assert stats["duplicates"] == 0
    assert len(done) == 2 * len(clients)
    for channel in (accounting, exec_alerts):
        texts = [m["text"] for m in messages(stack, channel, connected.since_ts)]
        assert sorted(c for c in clients for t in texts if c in t) == clients  # each once


def test_a_burst_for_one_channel_read_all_at_once_is_posted_in_the_order_freshbooks_sent_it(stack, connected):
    # The worker's threads read the burst's events at once, and a later one often finishes first: its post
    # must still wait for the earlier ones (the stand-in sends its webhooks one at a time, in order).
    accounting = channel_id(stack, "accounting")
    invoice_rule(connected, accounting)
    clients = [f"Burst Client {n}" for n in range(10)]
    stack.freshbooks("POST", "/_control/delivery", json={"paused": True})
    try:
        for n, client in enumerate(clients):
            fb(stack, "/_control/invoices", amount=f"{20 + n}.00", organization=client)
    finally:
        stack.freshbooks("POST", "/_control/delivery", json={"paused": False, "release_order": "fifo"})
    posted(connected, len(clients), timeout=SETTLE)
    in_channel = messages(stack, accounting, connected.since_ts)
    assert [next(c for c in clients if c in m["text"]) for m in in_channel] == clients


def test_a_missing_channel_holds_until_the_rule_points_elsewhere_then_posts_in_order(stack, connected):
    accounting, team = channel_id(stack, "accounting"), channel_id(stack, "accounting-team")
    [rule] = add_rules(connected, {"name": "Invoices", "events": ["invoice.create"], "channel_id": accounting})
    stack.slack("POST", "/_control/faults", json={"channel": accounting, "error": "channel_not_found"})
    clients = ["Lost One", "Lost Two", "Lost Three"]
    for client in clients:
        fb(stack, "/_control/invoices", amount="10.00", organization=client)
    held = wait_for(lambda: len(h := connected.deliveries(status="held")) == 3 and h, timeout=30,
                    message="three deliveries held")
    assert {d["channel_id"] for d in held} == {accounting}

    response = connected.patch(f"/api/v1/rules/{rule['id']}/", json={"channel_id": team})
    assert response.status_code == 200, response.text
    done = posted(connected, 3, timeout=30)
    assert {d["channel_id"] for d in done} == {team}
    in_team = messages(stack, team, connected.since_ts)
    assert [next(c for c in clients if c in m["text"]) for m in in_team] == clients  # in order
    assert messages(stack, accounting, connected.since_ts) == []


def invite_viewer(stack, operator, email: str) -> str:
    """The owner invites a viewer on the settings page; the viewer follows the emailed link and joins.
    Returns the viewer's API token (from the operator command: viewers cannot make tokens in the UI)."""
    owner = Browser(stack.web_url)
    owner.get("/accounts/login/")
    owner.submit(button="Log in", data={"username": operator.email, "password": PASSWORD})
    owner.get("/accounts/settings/")
    page = owner.submit(action="/accounts/settings/invitations/", data={"email": email, "role": "viewer"})
    assert "Invitation sent" in page.text, page.text[:3000]
    [mail] = stack.emails(to=email)  # sent before the page answered
    [link] = [link for link in mail.links if "/accounts/invitations/" in link]
    viewer = Browser(stack.web_url)
    viewer.get(link)
    page = viewer.submit(button="Create my account and join", data={"password": PASSWORD})
    assert "You are viewer" in page.text, page.text[:3000]
    return last_line(stack.manage("apitoken", "--tenant", operator.slug, "--user", email))


def test_a_replay_posts_once_more_linked_to_the_original_and_viewers_may_not_replay(stack, connected):
    general = channel_id(stack, "general")
    invoice_rule(connected, general)
    fb(stack, "/_control/invoices", amount="990.00", organization="Replay Rentals")
    [original] = posted(connected, 1)

    response = connected.post(f"/api/v1/deliveries/{original['id']}/replay/", json={})
    assert response.status_code == 202, response.text
    [replay] = response.json()
    assert replay["replay_of"] == original["id"] and replay["channel_id"] == general
    posted(connected, 2)
    in_channel = messages(stack, general, connected.since_ts)
    assert len(in_channel) == 2 and all("Replay Rentals" in m["text"] and "$990.00" in m["text"]
                                        for m in in_channel)
    assert [m["metadata"]["event_payload"]["delivery_id"] for m in in_channel] == [original["id"], replay["id"]]

    token = invite_viewer(stack, connected, "viewer-replay@example.com")
    viewer = requests.Session()
    viewer.headers["Authorization"] = f"Token {token}"
    assert viewer.get(f"{stack.web_url}/api/v1/deliveries/", timeout=10).json()["count"] == 2
    refused = viewer.post(f"{stack.web_url}/api/v1/deliveries/{original['id']}/replay/", json={}, timeout=10)
    assert refused.status_code == 403
    assert len(connected.deliveries()) == 2 and len(messages(stack, general, connected.since_ts)) == 2


def test_an_invoice_card_is_edited_in_place_and_its_news_replied_in_its_thread(stack, connected):
    accounting = channel_id(stack, "accounting")
    add_rules(connected, {"name": "Invoices", "events": ["invoice.create", "invoice.update", "payment.create"],
                          "channel_id": accounting, "updates": "thread"})
    edits_before = stack.slack("GET", "/_control/stats")["edits_accepted"]

    def top_level():
        return stack.slack("GET", "/_control/messages", params={
            "channel": accounting, "since_ts": connected.since_ts, "top_level": 1})["messages"]

    def card():
        return stack.slack("GET", f"/_control/messages/{accounting}/{card_ts}")

    # The invoice's first message is its card
    invoice = fb(stack, "/_control/invoices", amount="2000.00", organization="Card Client")["invoice"]
    card_ts = wait_for(lambda: top_level() and top_level()[0]["ts"], timeout=60, message="the invoice's card")

    # Three updates within 5 s: two change figures (edit only), the third the status (a reply too)
    fb(stack, f"/_control/invoices/{invoice['id']}/update", amount="2100.00")
    fb(stack, f"/_control/invoices/{invoice['id']}/update", due_date="2027-01-31")
    fb(stack, f"/_control/invoices/{invoice['id']}/update", status="sent")
    wait_for(lambda: "Sent" in card()["message"]["text"], timeout=30, message="the card edited to Sent")
    shown = card()
    assert shown["message"]["edit_count"] == 1  # one edit, within the card's 10 s, with the latest state
    assert "$2,100.00" in shown["message"]["text"]
    assert [r["text"] for r in shown["replies"]] == ["Status changed from Draft to Sent"]

    # Partly paid: a reply, and the card shows what is outstanding
    def replied(text):
        return any(r["text"] == text for r in card()["replies"])

    fb(stack, f"/_control/invoices/{invoice['id']}/pay", amount="1200.00")
    wait_for(lambda: replied("Payment of $1,200.00 by check, $900.00 outstanding"), timeout=30,
             message="the payment's reply")
    wait_for(lambda: "$900.00 outstanding" in card()["message"]["text"], timeout=30,
             message="the card showing $900.00 outstanding")

    # Paid in full: a reply also shown in the channel, the card says Paid
    fb(stack, f"/_control/invoices/{invoice['id']}/pay")
    wait_for(lambda: "Paid" in card()["message"]["text"], timeout=30, message="the card showing Paid")
    wait_for(lambda: replied("Payment of $900.00 by check, paid in full"), timeout=30, message="the last reply")
    replies = card()["replies"]
    # The settling news is broadcast once (the payment's reply; the invoice's own update when a worker
    # happened to process it first, which then names the status change instead).
    assert len([r for r in replies if r["reply_broadcast"]]) == 1
    assert all(r["thread_ts"] == card_ts for r in replies)
    channel_view = top_level()
    assert [m["ts"] for m in channel_view][0] == card_ts and len(channel_view) == 2  # the card + the broadcast
    assert channel_view[1]["reply_broadcast"] and channel_view[1]["thread_ts"] == card_ts

    deliveries = connected.deliveries()
    assert {d["slack_action"] for d in deliveries} == {"post", "reply", "edit"}
    assert {d["thread_ts"] for d in deliveries if d["slack_action"] == "reply"} == {card_ts}
    assert all(d["thread_ts"] is None for d in deliveries if d["slack_action"] != "reply")
    stats = stack.slack("GET", "/_control/stats")
    assert stats["edit_ratelimited"] == 0 and stats["duplicates"] == 0
    assert stats["edits_accepted"] - edits_before == card()["message"]["edit_count"]
