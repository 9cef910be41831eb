"""The Slack stand-in's page shows a living card as Slack would: the card edited in place with "(edited ...)",
its replies collapsed under "N replies" and opened with a click (staying open while the page refreshes
itself), the payment that settles it also in the channel as "replied to a thread", and a Delete button that
removes a message as someone in Slack could. Fits 1280 px and 390 px; screenshots of both go to screenshots/
(git-ignored) as slack-standin-thread-wide.png and slack-standin-thread-phone.png."""

import pytest
import requests
from playwright.sync_api import expect
from slack_sdk import WebClient

from sandbox.http import SandboxServer
from sandbox.slack import SlackApp, SlackConfig
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, Console, overflowing

pytestmark = [pytest.mark.browser]

ACCOUNTING = "C0SBX0002"


def _card(status: str, paid: str, outstanding: str, change: str = "payment") -> list[dict]:
    return [{"type": "header", "text": {"type": "plain_text", "text": "Invoice 0000042 · Acme Corp"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*Status*\n{status}"}, {"type": "mrkdwn", "text": "*Total*\n$2,000.00"},
                {"type": "mrkdwn", "text": f"*Paid*\n{paid}"}, {"type": "mrkdwn", "text": f"*Outstanding*\n{outstanding}"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Due 2026-12-15 · last change: {change}"}]}]


@pytest.fixture
def slack():
    app = SlackApp(SlackConfig())
    server = SandboxServer(app).start()
    requests.post(f"{server.url}/_control/settings", json={"channel_rate_window": 0}, timeout=5)
    token = requests.post(f"{server.url}/_control/tokens", json={}, timeout=5).json()["access_token"]
    yield server.url, WebClient(token=token, base_url=f"{server.url}/api/", timeout=5)
    server.stop()


@pytest.fixture
def threaded_card(slack) -> dict:
    """A card posted, sent by email and partly paid (replies), then paid in full (a broadcast reply), edited
    after each payment, as the app's living cards do."""
    url, client = slack
    metadata = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "101"}}
    card = client.chat_postMessage(channel=ACCOUNTING, text="Invoice 0000042 Sent",
                                   blocks=_card("Sent", "$0.00", "$2,000.00"), metadata=metadata)["ts"]
    client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="Sent by email to billing@acme.example")
    client.chat_postMessage(channel=ACCOUNTING, thread_ts=card,
                            text="Payment of $1,200.00 by credit card, $800.00 outstanding")
    client.chat_update(channel=ACCOUNTING, ts=card, text="Invoice 0000042 Partial",
                       blocks=_card("Partial", "$1,200.00", "$800.00"))
    client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, reply_broadcast=True,
                            text="Payment of $800.00 by bank transfer: paid in full")
    client.chat_update(channel=ACCOUNTING, ts=card, text="Invoice 0000042 Paid",
                       blocks=_card("Paid", "$2,000.00", "$0.00"))
    return {"url": url, "client": client, "ts": card}


def _open(browser, url: str, viewport: dict):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    console = Console(page)
    page.goto(url)
    return context, page, console


def test_threaded_edited_card_on_the_stand_in_page(browser, threaded_card):
    url, client, card = threaded_card["url"], threaded_card["client"], threaded_card["ts"]
    SCREENSHOTS.mkdir(exist_ok=True)
    context, page, console = _open(browser, url, DESKTOP)
    channel = page.locator(f"#channel-{ACCOUNTING}")

    # The channel shows the card as it is now, marked edited twice, and the settling payment as a reply
    # also sent to the channel; the other replies stay in the collapsed thread
    flow = channel.locator(":scope > .msg")
    expect(flow).to_have_count(2)
    assert "Paid" in flow.nth(0).inner_text() and "Partial" not in flow.nth(0).inner_text()
    expect(flow.nth(0).locator(".edited")).to_contain_text("2 edits")
    assert flow.nth(1).locator(".context-line").inner_text() == "replied to a thread: Invoice 0000042 Paid"
    thread_selector = f"details[id='thread-{ACCOUNTING}-{card}']"
    thread = channel.locator(thread_selector)
    summary = thread.locator("summary")
    assert summary.inner_text().startswith("3 replies")
    expect(thread.locator(".msg").first).to_be_hidden()

    # When someone opens the thread, the replies show in order, the broadcast one marked as such
    summary.click()
    replies = thread.locator(".msg")
    expect(replies.first).to_be_visible()
    texts = replies.all_inner_texts()
    assert ["Sent by email" in texts[0], "$1,200.00" in texts[1], "also sent to the channel" in texts[2]] == \
        [True, True, True]
    assert overflowing(page) == []
    channel.screenshot(path=str(SCREENSHOTS / "slack-standin-thread-wide.png"))

    # And the card is edited again: the page refreshes itself, the thread stays open
    client.chat_update(channel=ACCOUNTING, ts=card, text="Invoice 0000042 Paid",
                       blocks=_card("Paid", "$2,000.00", "$0.00", change="notes"))
    expect(flow.nth(0).locator(".edited")).to_contain_text("3 edits")
    expect(replies.first).to_be_visible()

    # When someone deletes the first reply with its Delete button, the thread has two replies left
    replies.first.get_by_role("button", name="Delete").click()
    page.wait_for_load_state()
    expect(channel.locator(f"{thread_selector} summary")).to_contain_text("2 replies")
    left = requests.get(f"{url}/_control/messages/{ACCOUNTING}/{card}", timeout=5).json()["replies"]
    assert [r["text"][:10] for r in left] == ["Payment of", "Payment of"]
    console.assert_clean("the stand-in's page, desktop")
    context.close()

    # At phone width the threaded card fits the screen
    context, page, console = _open(browser, url, PHONE)
    channel = page.locator(f"#channel-{ACCOUNTING}")
    channel.locator("details.thread summary").click()
    expect(channel.locator("details.thread .msg").first).to_be_visible()
    assert overflowing(page) == []
    channel.screenshot(path=str(SCREENSHOTS / "slack-standin-thread-phone.png"))
    console.assert_clean("the stand-in's page, phone")
    context.close()
