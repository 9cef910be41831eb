"""Overdue alerts and digests over real processes: `scan_overdue` reads the FreshBooks stand-in's invoices and
the worker posts the alert to the channel a rule names; `send_digests --now` posts a digest whose totals match
what the stand-in holds, to the cent, in two currencies. Screenshots of both as the Slack stand-in shows them."""

import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import requests

from tests.e2e.conftest import channel_id, last_line, messages, wait_for

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "screenshots")  # git-ignored


def invoice(stack, **body) -> dict:
    return stack.freshbooks("POST", "/_control/invoices", json=body)["invoice"]


def pay(stack, invoice_id, amount: str) -> dict:
    return stack.freshbooks("POST", f"/_control/invoices/{invoice_id}/pay", json={"amount": amount})["payment"]


def add_rule(operator, **body) -> dict:
    response = operator.post("/api/v1/rules/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


# Run in a process of its own: a browser test in the same session may already run Playwright's event loop
# in this one, and Playwright's sync API refuses to start inside it.
_SCREENSHOT = """
import sys
from playwright.sync_api import sync_playwright
url, channel, text, path, chromium = sys.argv[1:]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(url)
    section = page.locator("section").filter(has=page.locator("h2", has_text=channel))
    message = section.locator(".msg", has_text=text).last
    message.wait_for()
    message.screenshot(path=path)
    browser.close()
"""


def screenshot(stack, channel: str, text: str, name: str) -> None:
    """The last message of the channel holding `text`, as the Slack stand-in's page shows it."""
    if not os.path.exists(CHROMIUM):
        return  # the screenshots are for people to look at; the assertions above are the test
    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = subprocess.run([sys.executable, "-c", _SCREENSHOT, stack.slack_url, channel, text,
                           os.path.join(SCREENSHOTS, name), CHROMIUM], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr[-2000:]


def test_scan_overdue_posts_the_alert_to_the_channel_a_rule_names_once(stack, connected):
    accounting = channel_id(stack, "accounting")
    add_rule(connected, name="Overdue invoices", events=["invoice.overdue"], channel_id=accounting)
    invoice(stack, amount="250.00", currency_code="USD", organization="Late Payer Ltd", due_date=days_ago(12),
            send="true")
    invoice(stack, amount="90.00", currency_code="USD", organization="On Time Inc", due_date=days_ago(-5),
            send="true")  # due in five days
    paid = invoice(stack, amount="75.00", currency_code="USD", organization="Paid Up Co", due_date=days_ago(20),
                   send="true")
    pay(stack, paid["id"], "75.00")
    invoice(stack, amount="60.00", currency_code="USD", organization="Draft Works", due_date=days_ago(20))

    scanned = stack.manage("scan_overdue", "--tenant", connected.slug)

    assert last_line(scanned) == "overdue 1"
    wait_for(lambda: messages(stack, accounting, connected.since_ts), timeout=60, message="the overdue alert")
    alert = messages(stack, accounting, connected.since_ts)[-1]
    assert "Late Payer Ltd is 12 days overdue: $250.00 outstanding" in alert["text"]
    assert alert["blocks"][0]["text"]["text"].endswith("is 12 days overdue")
    assert last_line(stack.manage("scan_overdue", "--tenant", connected.slug)) == "overdue 0"
    overdue = [d for d in connected.deliveries() if d["event"] == "invoice.overdue"]
    assert [(d["status"], d["channel_id"]) for d in overdue] == [("posted", accounting)]
    screenshot(stack, accounting, "Late Payer Ltd", "overdue-alert.png")

    failed = stack.manage("scan_overdue", "--tenant", "no-such-tenant", check=False)
    assert failed.returncode != 0 and "No tenant" in failed.stderr


def _stand_in_totals(stack, kind: str, plural: str) -> dict[str, tuple[int, Decimal]]:
    """Count and sum per currency of what the FreshBooks stand-in holds, read through its API."""
    token = stack.freshbooks("POST", "/_control/tokens")
    answer = requests.get(f"{stack.freshbooks_url}/accounting/account/{token['account_id']}/{kind}",
                          headers={"Authorization": f"Bearer {token['access_token']}"},
                          params={"per_page": 100}, timeout=10)
    answer.raise_for_status()
    totals: dict[str, list[Decimal]] = defaultdict(list)
    for item in answer.json()["response"]["result"][plural]:
        totals[item["amount"]["code"]].append(Decimal(item["amount"]["amount"]))
    return {code: (len(values), sum(values, Decimal("0"))) for code, values in totals.items()}


def test_send_digests_now_posts_totals_matching_the_stand_in_to_the_cent(stack, connected):
    accounting, exec_alerts = channel_id(stack, "accounting"), channel_id(stack, "exec-alerts")
    add_rule(connected, name="Invoices and payments", events=["invoice.create", "payment.create"],
             channel_id=accounting)
    digest = connected.post("/api/v1/digests/", json={"name": "Daily digest", "channel_id": exec_alerts,
                                                      "frequency": "daily", "time": "09:00"})
    assert digest.status_code == 201, digest.text
    first = invoice(stack, amount="1234.56", currency_code="USD", organization="Acme Plumbing", send="true")
    invoice(stack, amount="0.10", currency_code="USD", organization="Tiny Tools")
    euro = invoice(stack, amount="789.01", currency_code="EUR", organization="Café Noir", send="true")
    invoice(stack, amount="300.00", currency_code="USD", organization="Late Payer Ltd", due_date=days_ago(5),
            send="true")
    pay(stack, first["id"], "100.01")
    pay(stack, euro["id"], "789.01")
    wait_for(lambda: len(connected.deliveries(status="posted")) == 6, timeout=120,
             message="4 invoices and 2 payments processed and posted")

    sent = stack.manage("send_digests", "--tenant", connected.slug, "--now")

    assert last_line(sent) == "digests 1"
    wait_for(lambda: messages(stack, exec_alerts, connected.since_ts), timeout=60, message="the digest")
    posted = messages(stack, exec_alerts, connected.since_ts)[-1]
    fields = [f["text"] for f in posted["blocks"][2]["fields"]]
    payments = _stand_in_totals(stack, "payments/payments", "payments")
    invoices = _stand_in_totals(stack, "invoices/invoices", "invoices")
    assert payments == {"EUR": (1, Decimal("789.01")), "USD": (1, Decimal("100.01"))}
    assert invoices == {"USD": (3, Decimal("1534.66")), "EUR": (1, Decimal("789.01"))}
    assert fields[0] == "*Payments received*\n1 · €789.01\n1 · $100.01"
    assert fields[1] == "*Invoices created*\n3 · $1,534.66\n1 · €789.01"
    assert posted["blocks"][3]["text"]["text"].startswith("*Overdue now*: 1 invoice, $300.00 outstanding")
    assert "5 days overdue" in posted["blocks"][3]["text"]["text"]
    assert "payments received 2 (€789.01 + $100.01)" in posted["text"]
    digests = [d for d in connected.deliveries() if d["event"] == "digest"]
    assert [(d["status"], d["channel_id"]) for d in digests] == [("posted", exec_alerts)]
    screenshot(stack, exec_alerts, "Daily digest", "digest.png")
