"""Delivery over real processes: every event kind to the channels its rules name, redelivered webhooks,
a 429 storm, a broken channel fixed by changing the rule, replays and who may replay."""

from collections import Counter

from tests.e2e.conftest import channel_id, messages, wait_for

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
    created = []
    for body in rules:
        response = operator.post("/api/v1/rules/", json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def test_each_event_kind_reaches_exactly_the_channels_its_rules_name(stack, connected):
    accounting, exec_alerts = channel_id(stack, "accounting"), channel_id(stack, "exec-alerts")
    team, general = channel_id(stack, "accounting-team"), channel_id(stack, "general")
    add_rules(connected,
              {"name": "Invoices", "events": ["invoice.create", "invoice.update", "invoice.delete"],
               "channel_id": accounting},
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
    assert "Status: draft → partial" in [t for e, t in texts if e == "invoice.update"][0]
    assert stack.slack("GET", "/_control/stats")["duplicates"] == 0
