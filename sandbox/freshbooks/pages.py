"""HTML pages of the FreshBooks stand-in: the OAuth consent page and the account overview with buttons
that make the account change (and fire webhooks)."""

from sandbox.http import escape
from sandbox.pages import button, layout

ACCENT = "#0063be"  # FreshBooks blue
RECENT_WEBHOOKS_SHOWN = 20
ROWS_SHOWN = 50  # newest objects per table; benchmarks create thousands


def message_page(title: str, text: str) -> str:
    return layout("FreshBooks sandbox", f"<div class=card><h2>{escape(title)}</h2><p>{escape(text)}</p></div>",
                  ACCENT)


def authorize_page(app_name: str, params: dict, identity: dict, businesses: list[dict], scopes: list[str]) -> str:
    hidden = "".join(f"<input type=hidden name='{escape(k)}' value='{escape(v)}'>" for k, v in params.items()
                     if k in ("client_id", "response_type", "redirect_uri", "scope", "state"))
    scope_items = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    business_names = ", ".join(b["name"] for b in businesses)
    body = f"""<div class=card>
<h2>Authorize {escape(app_name)}?</h2>
<p>{escape(app_name)} would like to access the FreshBooks account of
<b>{escape(identity['first_name'])} {escape(identity['last_name'])}</b> ({escape(identity['email'])})
and its businesses: {escape(business_names)}.</p>
<p class=muted>It asks for:</p><ul class=muted>{scope_items}</ul>
<form method=post action='/oauth/authorize'>{hidden}
<div class=row><button class=primary name=decision value=allow>Allow</button>
<button name=decision value=deny>Deny</button></div></form>
<p class=muted>This is the FreshBooks sandbox: no real account is involved.</p></div>"""
    return layout("FreshBooks sandbox", body, ACCENT)


def _money(value: dict) -> str:
    return f"{escape(value['amount'])} {escape(value['code'])}"


def _deleted(obj: dict) -> bool:
    return obj.get("vis_state") == 1


def home_page(app, account_id: str) -> str:
    data = app.data
    account = data["accounts"][account_id]
    business = app.books.business(account_id)
    q = {"account_id": account_id}
    parts = []

    businesses = app.books.active_businesses()
    picker = ""
    if len(businesses) > 1:
        links = " · ".join(
            f"<a href='/?account_id={escape(b['account_id'])}'>{escape(b['name'])}</a>" if b["account_id"] != account_id
            else f"<b>{escape(b['name'])}</b>" for b in businesses)
        picker = f"<p>Businesses: {links}</p>"
    parts.append(f"""<section><h2>Make something happen</h2>{picker}
<p class=muted>Each button changes this sandbox account the way FreshBooks would and sends the webhooks a real
account sends to every verified callback. Account id <code>{escape(account_id)}</code>,
business id <code>{business['id']}</code>.</p>
<div class=row>
{button('/_control/invoices', 'Create a sample invoice', q, 'primary')}
{button('/_control/invoices', 'Create and send a sample invoice', q | {'send': 'true'})}
{button('/_control/bills', 'Create a sample bill', q, 'primary')}
{button('/_control/expenses', 'Create a sample expense', q, 'primary')}
</div>
<form class=row method=post action='/_control/invoices'>
<input type=hidden name=account_id value='{escape(account_id)}'>
<label>Client <input name=organization placeholder='Acme Corporation' size=18></label>
<label>Amount <input name=amount placeholder='250.00' size=8></label>
<label>Currency <input name=currency_code placeholder='USD' size=4></label>
<button>Create invoice</button></form></section>""")

    rows = []
    for invoice in sorted(account["invoices"].values(), key=lambda i: -i["id"])[:ROWS_SHOWN]:
        actions = ""
        if not _deleted(invoice):
            actions = " ".join(filter(None, [
                button(f"/_control/invoices/{invoice['id']}/send", "Send", q) if invoice["status"] == 1 else "",
                button(f"/_control/invoices/{invoice['id']}/pay", "Pay it", q, "primary")
                if invoice["outstanding"]["amount"] != "0.00" else "",
                button(f"/_control/invoices/{invoice['id']}/pay", "Pay half",
                       q | {"amount": f"{float(invoice['outstanding']['amount']) / 2:.2f}"})
                if invoice["outstanding"]["amount"] != "0.00" else "",
                button(f"/_control/invoices/{invoice['id']}/delete", "Delete", q, "danger"),
            ]))
        rows.append(f"<tr><td>{escape(invoice['invoice_number'])}<div class=muted>id {invoice['id']}</div></td>"
                    f"<td>{escape(invoice['organization'])}</td><td>{_money(invoice['amount'])}</td>"
                    f"<td>{_money(invoice['outstanding'])}</td>"
                    f"<td>{'deleted' if _deleted(invoice) else escape(invoice['v3_status'])}</td>"
                    f"<td>{escape(invoice['updated'])}</td><td>{actions}</td></tr>")
    parts.append(_table("Invoices", ["Number", "Client", "Amount", "Outstanding", "Status", "Updated", ""], rows))

    rows = []
    for payment in sorted(account["payments"].values(), key=lambda p: -p["id"])[:ROWS_SHOWN]:
        actions = "" if _deleted(payment) else \
            button(f"/_control/payments/{payment['id']}/delete", "Delete", q, "danger")
        rows.append(f"<tr><td>{payment['id']}</td><td>{payment['invoiceid']}</td><td>{_money(payment['amount'])}</td>"
                    f"<td>{escape(payment['type'])}</td><td>{escape(payment['date'])}</td>"
                    f"<td>{'deleted' if _deleted(payment) else 'active'}</td><td>{actions}</td></tr>")
    parts.append(_table("Payments", ["Id", "Invoice", "Amount", "Type", "Date", "State", ""], rows))

    rows = []
    for bill in sorted(account["bills"].values(), key=lambda b: -b["id"])[:ROWS_SHOWN]:
        actions = ""
        if not _deleted(bill):
            actions = " ".join(filter(None, [
                button(f"/_control/bills/{bill['id']}/pay", "Pay it", q, "primary")
                if bill["outstanding"]["amount"] != "0.00" else "",
                button(f"/_control/bills/{bill['id']}/delete", "Delete", q, "danger")]))
        rows.append(f"<tr><td>{escape(bill['bill_number'])}<div class=muted>id {bill['id']}</div></td>"
                    f"<td>{escape(bill['vendor']['vendor_name'])}</td><td>{_money(bill['total_amount'])}</td>"
                    f"<td>{_money(bill['outstanding'])}</td>"
                    f"<td>{'deleted' if _deleted(bill) else escape(bill['status'])}</td>"
                    f"<td>{escape(bill['due_date'])}</td><td>{actions}</td></tr>")
    parts.append(_table("Bills", ["Number", "Vendor", "Amount", "Outstanding", "Status", "Due", ""], rows))

    rows = []
    for expense in sorted(account["expenses"].values(), key=lambda e: -e["id"])[:ROWS_SHOWN]:
        actions = "" if _deleted(expense) else \
            button(f"/_control/expenses/{expense['id']}/delete", "Delete", q, "danger")
        rows.append(f"<tr><td>{expense['id']}</td><td>{escape(expense['vendor'])}</td>"
                    f"<td>{escape(expense['category']['category'])}</td><td>{_money(expense['amount'])}</td>"
                    f"<td>{escape(expense['date'])}</td><td>{'deleted' if _deleted(expense) else 'active'}</td>"
                    f"<td>{actions}</td></tr>")
    parts.append(_table("Expenses", ["Id", "Vendor", "Category", "Amount", "Date", "State", ""], rows))

    rows = [f"<tr><td>{c['callbackid']}</td><td><code>{escape(c['event'])}</code></td><td>{escape(c['uri'])}</td>"
            f"<td class={'ok' if c['verified'] else 'bad'}>{'verified' if c['verified'] else 'not verified'}</td></tr>"
            for c in data["callbacks"].values() if c["account_id"] == account_id]
    parts.append(_table("Webhook callbacks registered by apps", ["Id", "Event", "Address", "State"], rows,
                        "No app has registered a callback yet. Connect FreshBooks in the app first."))

    dropping = bool(data["delivery"].get("drop"))
    dropped = sum(1 for d in data["deliveries"].values() if d["status"] == "dropped")
    toggle = button("/_control/delivery", "Send webhooks again" if dropping else "Drop webhooks",
                    q | {"drop": "false" if dropping else "true"}, "primary" if dropping else "danger")
    late = button("/_control/webhooks/dropped/deliver", f"Deliver the {dropped} dropped late", q) if dropped else ""
    state = ("<b class=bad>Dropping webhooks</b>: changes are recorded but no webhook is sent, as when FreshBooks "
             "loses them. The app's catch-up reads should still bring every change." if dropping else
             "Webhooks are sent to every verified callback.")
    parts.append(f"<section id=webhook-switch><h2>Webhook delivery</h2><p>{state}</p>"
                 f"<div class=row>{toggle} {late}</div></section>")

    rows = []
    deliveries = [d for d in data["deliveries"].values()][-RECENT_WEBHOOKS_SHOWN:]
    for delivery in reversed(deliveries):
        last = delivery["attempts"][-1] if delivery["attempts"] else None
        outcome = ("dropped" if delivery["status"] == "dropped" else "waiting") if last is None \
            else (last["status"] or last["error"])
        css = "ok" if delivery["status"] == "delivered" else ("bad" if delivery["status"] == "failed" else "muted")
        rows.append(f"<tr><td>{delivery['id']}</td><td><code>{escape(delivery['name'])}</code></td>"
                    f"<td>{escape(delivery['object_id'])}</td><td>{escape(delivery['uri'])}</td>"
                    f"<td class={css}>{escape(outcome)}</td>"
                    f"<td>{button(f'/_control/webhooks/{delivery['id']}/redeliver', 'Send again')}</td></tr>")
    parts.append(_table("Recent webhooks sent", ["Id", "Event", "Object", "To", "Answer", ""], rows,
                        "Nothing sent yet.") + "<p class=muted><a href='/'>Refresh</a></p>")
    return layout("FreshBooks sandbox", "".join(parts), ACCENT,
                  f"{business['name']}: a stand-in for FreshBooks, for trying ml-connector without an account")


def _table(title: str, headings: list[str], rows: list[str], empty: str = "None yet.") -> str:
    if not rows:
        return f"<section><h2>{escape(title)}</h2><p class=muted>{escape(empty)}</p></section>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    return f"<section><h2>{escape(title)}</h2><table><tr>{head}</tr>{''.join(rows)}</table></section>"
