"""Acting from Slack over real processes: an invoice's message in the Slack stand-in has buttons; clicking
Send reminder there sends a signed interaction to the web process, a worker emails the invoice through the
FreshBooks stand-in and replies in the message's thread; a second click sends nothing more; /freshbooks
run on the stand-in answers with the invoice's state."""

import time

from tests.e2e.conftest import channel_id, manage_batch, messages, wait_for

OWNER_SLACK_USER = "U0SANDBOXOWNER"  # the stand-in's workspace owner, who clicks on its page


def test_send_reminder_clicked_in_slack_emails_the_client_once(stack, connected):
    accounting = channel_id(stack, "accounting")
    response = connected.post("/api/v1/rules/", json={"name": "Invoices", "events": ["invoice.create"],
                                                      "channel_id": accounting})
    assert response.status_code == 201, response.text
    manage_batch(stack, ["link_slack_user", "--tenant", connected.slug, "--user", connected.email,
                         "--slack-user", OWNER_SLACK_USER])
    invoice = stack.freshbooks("POST", "/_control/invoices", json={
        "amount": "1500.00", "currency_code": "USD", "organization": "Globex", "email": "billing@globex.test",
        "send": "true"})["invoice"]
    wait_for(lambda: messages(stack, accounting, connected.since_ts), timeout=60, message="the invoice's message")
    card = messages(stack, accounting, connected.since_ts)[0]
    buttons = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["send_reminder", "claim", "open_in_freshbooks"]

    first = stack.slack("POST", "/_control/interact", json={"channel": accounting, "ts": card["ts"],
                                                             "action_id": "send_reminder"})
    second = stack.slack("POST", "/_control/interact", json={"channel": accounting, "ts": card["ts"],
                                                              "action_id": "send_reminder"})

    assert first["status"] == 200 and second["status"] == 200  # both answered within Slack's 3 s
    wait_for(lambda: stack.freshbooks("GET", "/_control/emails")["emails"], timeout=30,
             message="FreshBooks emailed the invoice")
    emails = stack.freshbooks("GET", "/_control/emails")["emails"]
    assert [(e["invoice_id"], e["recipients"]) for e in emails] == [(invoice["id"], ["billing@globex.test"])]

    def replies():
        return [m for m in messages(stack, accounting, connected.since_ts) if m.get("thread_ts") == card["ts"]]

    wait_for(replies, timeout=30, message="a reply in the message's thread")
    assert replies()[0]["text"] == f"Reminder sent to billing@globex.test by {connected.email}"
    time.sleep(2)  # nothing more comes: one email, one reply
    assert len(stack.freshbooks("GET", "/_control/emails")["emails"]) == 1
    assert len(replies()) == 1
    notes = stack.slack("GET", "/_control/interactions")["ephemerals"]
    assert any("at most one a day" in n["text"] for n in notes)

    # The reminder's read of the invoice is in the ledger: /freshbooks answers from it at once.
    answer = stack.slack("POST", "/_control/command", json={"text": f"invoice {invoice['invoice_number']}"})
    assert answer["status"] == 200
    assert f"*{invoice['invoice_number']}* for Globex: sent" in answer["response"]
    assert "outstanding $1,500.00" in answer["response"]
