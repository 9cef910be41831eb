"""Card storm: 200 updates of 50 invoices in one minute, through real processes (FreshBooks stand-in -> signed
webhooks -> gunicorn -> Celery worker -> Slack stand-in), each invoice with a living card in one channel.
Prints ONE JSON line.

    .venv/bin/python bench/cards_storm.py [--invoices 50] [--updates 200] [--seconds 60] [--channels 5]

- One tenant, `channels` channels, one rule per channel (invoice.create and invoice.update, updates
  "thread"; client name contains ...), the invoices spread over them.
- Once every invoice has its card, `updates` amount changes are made at an even pace over `seconds`
  (taking turns over the invoices), each a signed `invoice.update` webhook.
- The Slack stand-in enforces chat.update's Tier 3 budget (50 a minute per workspace, 429 with Retry-After).

Reported: edits Slack accepted, the stand-in's 429s to chat.update (goal 0) and to posts, cards whose final
text equals the text of the invoice's last state (goal: all), replies (none expected: no status changes),
duplicates, and the time from the first update to the moment every card showed its last state.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    businesses,
    channels_create,
    django_setup,
    emit,
    log,
    machine,
    start_stack,
    tenant_connected,
    wait_callbacks_verified,
)

RUN_TIMEOUT = 400  # seconds for every card to show its last state after the storm started


def _cards(stack, channel_ids: list[str]) -> dict[str, dict]:
    """ts -> the message as the channel shows it (top level only), over every channel."""
    out = {}
    for channel in channel_ids:
        for m in stack.slack("GET", "/_control/messages", params={"channel": channel, "top_level": 1})["messages"]:
            out[m["ts"]] = m
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=50)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--channels", type=int, default=5)
    args = parser.parse_args()
    started_load = machine()
    stack = start_stack("cards")
    try:
        django_setup(stack)
        from audit.models import Card
        from connector.core.events import DocumentState
        from connector.slack.cards import build_card

        names = [f"cards-{i:02d}" for i in range(1, args.channels + 1)]
        channel_ids = channels_create(stack, names)
        account = businesses(stack, 1)[0]
        tenant = tenant_connected(stack, 1, account)
        wait_callbacks_verified(stack, 1)
        for name in names:
            tenant.rule(f"Invoices of {name}", channel_ids[name], events=["invoice.create", "invoice.update"],
                        counterparty_contains=f"client {name}", updates="thread")
        invoices = []
        for n in range(args.invoices):
            name = names[n % len(names)]
            invoices.append(str(stack.freshbooks("POST", "/_control/invoices", json={
                "account_id": tenant.account_id, "organization": f"Client {name} {n:02d}",
                "amount": "1000.00", "currency_code": "USD"})["invoice"]["id"]))
        log(f"waiting for {args.invoices} cards")
        deadline = time.time() + 180
        while Card.objects.exclude(ts="").count() < args.invoices and time.time() < deadline:
            time.sleep(0.5)
        before = stack.slack("GET", "/_control/stats")

        log(f"storm: {args.updates} updates over {args.seconds:.0f} s")
        last_amount: dict[str, str] = {}
        storm_started = time.time()
        for k in range(args.updates):
            invoice_id = invoices[k % len(invoices)]
            amount = f"{1001 + k}.00"
            stack.freshbooks("POST", f"/_control/invoices/{invoice_id}/update",
                             json={"account_id": tenant.account_id, "amount": amount})
            last_amount[invoice_id] = amount
            time.sleep(max(0.0, storm_started + (k + 1) * args.seconds / args.updates - time.time()))
        storm_seconds = time.time() - storm_started

        def final_ok() -> int:
            """Cards whose text in Slack is exactly the text of their invoice's last state."""
            shown = _cards(stack, list(channel_ids.values()))
            ok = 0
            for card in Card.objects.filter(forgotten_at__isnull=True).select_related("tenant"):
                state = DocumentState.from_dict(card.state)
                expected, _ = build_card(state, business_name=card.tenant.name, note=card.note)
                message = shown.get(card.ts)
                if message and message["text"] == expected and \
                        f"{state.total:.2f}" == last_amount.get(card.document_id):
                    ok += 1
            return ok

        settled_at = None
        while time.time() - storm_started < RUN_TIMEOUT:
            if final_ok() == len(last_amount):
                settled_at = time.time()
                break
            time.sleep(1)
        time.sleep(3)  # a late edit or duplicate would show now
        after = stack.slack("GET", "/_control/stats")
        result = {
            "benchmark": "cards_storm", "machine": started_load, "machine_after": machine(),
            "invoices": args.invoices, "updates": args.updates, "channels": args.channels,
            "storm_seconds": round(storm_seconds, 1),
            "edits": after["edits_accepted"] - before["edits_accepted"],
            "edit_429": after["edit_ratelimited"] - before["edit_ratelimited"],
            "post_429": after["ratelimited"] - before["ratelimited"],
            "replies": after["replies_accepted"] - before["replies_accepted"],
            "duplicates": after["duplicates"],
            "cards_showing_last_state": final_ok(), "cards": len(last_amount),
            "first_update_to_all_cards_final_s": round(settled_at - storm_started, 1) if settled_at else None,
        }
        result["goals"] = {"no_edit_429": result["edit_429"] == 0,
                           "every_card_shows_its_last_state": result["cards_showing_last_state"] == result["cards"]}
        emit(result)
    finally:
        from django.db import connections

        connections.close_all()
        stack.stop()


if __name__ == "__main__":
    main()
