"""Catch-up over real processes: FreshBooks (the stand-in) drops its webhooks, seven changes happen, the
`catch_up` command posts each exactly once to the channels its rules name and nothing from before the
connection; the same webhooks delivered late post nothing more."""

import re
import time

import psycopg
import pytest

from sandbox.stack import Stack
from tests.e2e.conftest import channel_id, manage_batch, messages, stack_config, wait_for

SETTLE = 90  # seconds for the posts to go out at Slack's pace of one per second per channel


@pytest.fixture(scope="module")
def stack():
    # The beat reads nobody here (interval 0): the command is the only catch-up, so its counts are exact.
    with Stack(stack_config("test_catch_up", extra_env={"CATCH_UP_INTERVAL_MINUTES": "0"})) as running:
        yield running


def fb(stack, path: str, **body) -> dict:
    return stack.freshbooks("POST", path, json=body)


def connect(stack, operator) -> None:
    """The operator commands of tests/e2e/conftest.py's `connected`, run once the history exists."""
    tokens = stack.freshbooks("POST", "/_control/tokens")
    slack = stack.slack("POST", "/_control/tokens")
    manage_batch(stack,
                 ["connect_freshbooks", "--tenant", operator.slug, "--access-token", tokens["access_token"],
                  "--refresh-token", tokens["refresh_token"], "--expires-in", str(tokens.get("expires_in", 43200)),
                  "--account-id", tokens["account_id"], "--business-id", str(tokens["business_id"])],
                 ["connect_slack", "--tenant", operator.slug, "--bot-token", slack["access_token"],
                  "--team-id", slack["team_id"], "--team-name", slack["team_name"]],
                 ["register_callbacks", "--tenant", operator.slug])


def inbound_events(stack, slug: str) -> list[tuple[str, str, str, str]]:
    """(name, object_id, source, status) of the tenant's inbound events, from the stack's database."""
    with psycopg.connect(stack.config.database_url) as db:
        return db.execute(
            "SELECT e.name, e.object_id, e.source, e.status FROM audit_inboundevent e "
            "JOIN tenants_tenant t ON t.id = e.tenant_id WHERE t.slug = %s ORDER BY e.id", (slug,)).fetchall()


def test_catch_up_posts_what_the_webhooks_dropped_once_and_the_late_webhooks_nothing(stack, operator):
    # History: made before FreshBooks is connected, never news.
    old_invoice = fb(stack, "/_control/invoices", organization="Old Client", amount="75.00")["invoice"]["id"]
    old_bill = fb(stack, "/_control/bills", vendor_name="Old Vendor", amount="20.00")["bill"]["id"]
    time.sleep(1.1)  # FreshBooks stamps have whole seconds: the connection comes strictly after them
    connect(stack, operator)
    accounting, exec_alerts = channel_id(stack, "accounting"), channel_id(stack, "exec-alerts")
    team = channel_id(stack, "accounting-team")
    for body in ({"name": "Invoices", "events": ["invoice.create", "invoice.update"], "channel_id": accounting},
                 {"name": "Payments", "events": ["payment.create"], "channel_id": exec_alerts},
                 {"name": "Spending", "events": ["bill.create", "expense.create"], "channel_id": team}):
        assert operator.post("/api/v1/rules/", json=body).status_code == 201

    fb(stack, "/_control/delivery", drop=True)  # FreshBooks loses every webhook from here
    first = fb(stack, "/_control/invoices", organization="Acme Plumbing", amount="1200.00")["invoice"]["id"]
    second = fb(stack, "/_control/invoices", organization="Globex Inc", amount="300.00")["invoice"]["id"]
    fb(stack, f"/_control/invoices/{old_invoice}/update", amount="80.00")  # an update after connecting
    first_payment = fb(stack, f"/_control/invoices/{first}/pay", type="Check")["payment"]["id"]
    second_payment = fb(stack, f"/_control/invoices/{second}/pay", amount="100.00")["payment"]["id"]
    bill = fb(stack, "/_control/bills", vendor_name="Contoso Cloud Hosting", amount="89.99")["bill"]["id"]
    expense = fb(stack, "/_control/expenses", vendor="Delta Air Lines", amount="612.40")["expense"]["id"]
    dropped = [w for w in stack.freshbooks("GET", "/_control/webhooks", params={"limit": 1000})["webhooks"]
               if w["status"] == "dropped"]
    assert dropped and inbound_events(stack, operator.slug) == []  # not one reached the app

    done = manage_batch(stack, ["catch_up", "--tenant", operator.slug])
    # Listed: the three invoices, two payments, two bills (the old one is history) and the expense.
    assert done["catch_up"] == "read 8, new 7, already seen 1"

    expected = {("invoice.create", str(first)): accounting, ("invoice.create", str(second)): accounting,
                ("invoice.update", str(old_invoice)): accounting,
                ("payment.create", str(first_payment)): exec_alerts,
                ("payment.create", str(second_payment)): exec_alerts,
                ("bill.create", str(bill)): team, ("expense.create", str(expense)): team}
    posted = wait_for(lambda: len(d := operator.deliveries(status="posted")) >= 7 and d, timeout=SETTLE,
                      message="seven catch-up posts")
    assert {(d["event"], d["object_id"]): d["channel_id"] for d in posted} == expected
    assert {d["source"] for d in posted} == {"poll"}
    in_slack = {ch: len(messages(stack, ch, operator.since_ts)) for ch in (accounting, exec_alerts, team)}
    assert in_slack == {accounting: 3, exec_alerts: 2, team: 2}
    assert str(old_bill) not in {d["object_id"] for d in operator.deliveries()}

    # FreshBooks sends again, and delivers what it had dropped, late.
    fb(stack, "/_control/delivery", drop=False)
    late = fb(stack, "/_control/webhooks/dropped/deliver")["deliveries"]
    assert len(late) == len(dropped)
    def late_answered():
        sent = [w for w in stack.freshbooks("GET", "/_control/webhooks", params={"limit": 1000})["webhooks"]
                if w["id"] in late]
        return all(w["attempts"] for w in sent) and [w["attempts"][-1] for w in sent]

    answers = wait_for(late_answered, timeout=60, message="the late webhooks answered")
    assert {a["status"] for a in answers} == {200}
    refused = sum('"duplicate"' in a["response"] for a in answers)
    assert refused == 6  # the creates (two invoices, two payments, the bill, the expense): refused at the door

    def processed():
        events = [r for r in inbound_events(stack, operator.slug) if r[2] == "webhook"]
        return len(events) == len(late) - refused and all(r[3] not in ("received", "retrying") for r in events) \
            and events

    from_webhooks = wait_for(processed, timeout=60, message="the late updates processed")
    # The updates (the old invoice's, and the paid invoices') show states already reported: duplicates.
    assert {(name, status) for name, _, _, status in from_webhooks} == {("invoice.update", "duplicate")}
    time.sleep(3)  # anything wrongly posted would be on its way by now
    assert len(operator.deliveries()) == 7
    assert {ch: len(messages(stack, ch, operator.since_ts)) for ch in in_slack} == in_slack
    assert stack.slack("GET", "/_control/stats")["duplicates"] == 0
    assert re.fullmatch(r"read \d+, new 0, already seen \d+",
                        manage_batch(stack, ["catch_up", "--tenant", operator.slug])["catch_up"])
