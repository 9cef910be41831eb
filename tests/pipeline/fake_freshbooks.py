"""FreshBooks' invoice list and invoice endpoints for several accounts, at the transport (`responses`)."""

import json
from urllib.parse import parse_qsl, urlsplit

from tests.freshbooks.conftest import API


def invoice(invoice_id: int, due: str, *, status: int = 2, v3: str = "sent", outstanding: str = "100.00",
            currency: str = "USD", vis_state: int = 0, number: str = "", organization: str = "Acme Ltd") -> dict:
    return {"id": invoice_id, "invoiceid": invoice_id, "invoice_number": number or f"INV-{invoice_id}",
            "organization": organization, "amount": {"amount": "300.00", "code": currency},
            "outstanding": {"amount": outstanding, "code": currency}, "currency_code": currency,
            "create_date": "2026-02-01", "due_date": due, "status": status, "v3_status": v3,
            "payment_status": "paid" if status == 4 else "unpaid", "vis_state": vis_state,
            "updated": "2026-03-01 10:00:00"}


def book(currency: str) -> list[dict]:
    """One business's invoices: three open (due Mar 8, 9, 10), and a paid, a draft and a deleted one long due."""
    return [invoice(101, "2026-03-08", currency=currency),
            invoice(102, "2026-03-09", status=8, v3="partial", outstanding="50.25", currency=currency),
            invoice(103, "2026-03-10", status=3, v3="viewed", currency=currency),
            invoice(104, "2026-03-01", status=4, v3="paid", outstanding="0.00", currency=currency),
            invoice(105, "2026-03-01", status=1, v3="draft", outstanding="500.00", currency=currency),
            invoice(106, "2026-03-02", vis_state=1, currency=currency)]


class FakeFreshBooks:
    """The accounting list and single-invoice endpoints of several accounts. It ignores the status filter
    (FreshBooks may: reference §8 leaves it unverified), so statuses must be read from the objects."""

    def __init__(self, rsps):
        self.accounts: dict[str, list[dict]] = {}
        self.list_queries: list[list[tuple[str, str]]] = []
        self.rsps = rsps

    def serve(self, account_id: str, invoices: list[dict]):
        self.accounts[account_id] = invoices
        base = f"{API}/accounting/account/{account_id}/invoices/invoices"
        self.rsps.add_callback("GET", base, callback=self._list(account_id))
        for inv in invoices:
            self.rsps.add_callback("GET", f"{base}/{inv['id']}", callback=self._one(account_id, inv["id"]))

    def _list(self, account_id):
        def answer(request):
            query = parse_qsl(urlsplit(request.url).query)
            self.list_queries.append(query)
            page, per_page = int(dict(query)["page"]), int(dict(query)["per_page"])
            items = self.accounts[account_id]
            chunk = items[(page - 1) * per_page: page * per_page]
            pages = max(1, -(-len(items) // per_page))
            return 200, {}, _json({"response": {"result": {"invoices": chunk, "page": page, "pages": pages,
                                                           "per_page": per_page, "total": len(items)}}})
        return answer

    def _one(self, account_id, invoice_id):
        def answer(request):
            found = next(i for i in self.accounts[account_id] if i["id"] == invoice_id)
            return 200, {}, _json({"response": {"result": {"invoice": found}}})
        return answer


def _json(data) -> str:
    return json.dumps(data)
