"""FreshBooks stand-in: accounting resources in FreshBooks' shapes, changes made through the controls,
API errors, and injected faults."""

import re
import time

import requests

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _get(freshbooks, fb_token, path: str, **params) -> requests.Response:
    return requests.get(f"{freshbooks.url}/accounting/account/{fb_token['account_id']}/{path}",
                        headers=fb_token["headers"], params=params)


def _control(freshbooks, endpoint: str, **body) -> dict:
    answer = requests.post(f"{freshbooks.url}/_control/{endpoint}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_invoice_has_freshbooks_envelope_money_and_statuses(freshbooks, fb_token):
    created = _control(freshbooks, "invoices", amount="180", currency_code="CAD", organization="Hooli")

    answer = _get(freshbooks, fb_token, f"invoices/invoices/{created['invoice']['id']}")

    invoice = answer.json()["response"]["result"]["invoice"]
    assert invoice["amount"] == {"amount": "180.00", "code": "CAD"}
    assert invoice["outstanding"] == {"amount": "180.00", "code": "CAD"}
    assert invoice["organization"] == "Hooli"
    assert (invoice["status"], invoice["v3_status"], invoice["payment_status"]) == (1, "draft", "unpaid")
    assert invoice["vis_state"] == 0
    assert STAMP.match(invoice["updated"])
    assert invoice["invoice_number"] == "0000001"
    assert "lines" not in invoice


def test_invoice_lines_come_with_include(freshbooks, fb_token):
    invoice_id = _control(freshbooks, "invoices", amount="99.50")["invoice"]["id"]

    invoice = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}", **{"include[]": "lines"}).json()

    lines = invoice["response"]["result"]["invoice"]["lines"]
    assert lines[0]["amount"] == {"amount": "99.50", "code": "USD"}


def test_paying_an_invoice_creates_a_payment_and_marks_it_paid_or_partial(freshbooks, fb_token):
    invoice_id = _control(freshbooks, "invoices", amount="100.00")["invoice"]["id"]

    half = _control(freshbooks, f"invoices/{invoice_id}/pay", amount="40")
    partial = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}").json()["response"]["result"]["invoice"]
    rest = _control(freshbooks, f"invoices/{invoice_id}/pay")
    paid = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}").json()["response"]["result"]["invoice"]

    assert [e["name"] for e in half["events"]] == ["payment.create", "invoice.update"]
    assert (partial["status"], partial["v3_status"], partial["outstanding"]["amount"]) == (8, "partial", "60.00")
    assert (paid["status"], paid["v3_status"], paid["payment_status"]) == (4, "paid", "paid")
    payment = _get(freshbooks, fb_token, f"payments/payments/{rest['payment']['id']}").json()
    payment = payment["response"]["result"]["payment"]
    assert payment["invoiceid"] == invoice_id and payment["amount"] == {"amount": "60.00", "code": "USD"}
    assert payment["clientid"] == partial["customerid"]


def test_deleting_a_payment_reopens_its_invoice(freshbooks, fb_token):
    invoice_id = _control(freshbooks, "invoices", amount="50", send=True)["invoice"]["id"]
    payment_id = _control(freshbooks, f"invoices/{invoice_id}/pay")["payment"]["id"]

    deleted = _control(freshbooks, f"payments/{payment_id}/delete")

    assert [e["name"] for e in deleted["events"]] == ["payment.delete", "invoice.update"]
    invoice = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}").json()["response"]["result"]["invoice"]
    assert (invoice["v3_status"], invoice["outstanding"]["amount"]) == ("sent", "50.00")


def test_deleted_objects_are_soft_deleted_or_404_by_setting(freshbooks, fb_token):
    invoice_id = _control(freshbooks, "invoices")["invoice"]["id"]
    _control(freshbooks, f"invoices/{invoice_id}/delete")

    soft = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}")
    _control(freshbooks, "settings", deleted_objects="404")
    gone = _get(freshbooks, fb_token, f"invoices/invoices/{invoice_id}")

    assert soft.json()["response"]["result"]["invoice"]["vis_state"] == 1
    assert gone.status_code == 404
    assert gone.json()["response"]["errors"][0]["errno"] == 1012


def test_bill_embeds_its_vendor_and_paying_it_updates_the_bill(freshbooks, fb_token):
    created = _control(freshbooks, "bills", vendor_name="Initrode Paper", amount="75.25")
    bill_id = created["bill"]["id"]

    paid = _control(freshbooks, f"bills/{bill_id}/pay")

    assert [e["name"] for e in created["events"]] == ["bill_vendor.create", "bill.create"]
    assert [e["name"] for e in paid["events"]] == ["bill.update"]
    bill = _get(freshbooks, fb_token, f"bills/bills/{bill_id}").json()["response"]["result"]["bill"]
    assert bill["vendor"]["vendor_name"] == "Initrode Paper"
    assert bill["total_amount"] == {"amount": "75.25", "code": "USD"}
    assert bill["status"] == "paid"
    vendor = _get(freshbooks, fb_token, f"bill_vendors/bill_vendors/{bill['vendorid']}").json()
    assert vendor["response"]["result"]["bill_vendor"]["vendor_name"] == "Initrode Paper"


def test_expense_has_vendor_string_category_and_client(freshbooks, fb_token):
    clients = _get(freshbooks, fb_token, "users/clients").json()["response"]["result"]
    client_id = clients["clients"][0]["id"]

    expense_id = _control(freshbooks, "expenses", vendor="Staples", amount="12.30", category="Travel",
                          client_id=client_id)["expense"]["id"]

    expense = _get(freshbooks, fb_token, f"expenses/expenses/{expense_id}").json()["response"]["result"]["expense"]
    assert expense["vendor"] == "Staples"
    assert expense["category"]["category"] == "Travel"
    assert expense["category"]["categoryid"] == expense["categoryid"]
    assert expense["clientid"] == client_id
    assert clients["total"] == 3 and clients["page"] == 1


def test_lists_page_newest_first(freshbooks, fb_token):
    ids = [_control(freshbooks, "invoices")["invoice"]["id"] for _ in range(3)]

    first = _get(freshbooks, fb_token, "invoices/invoices", per_page=2).json()["response"]["result"]
    second = _get(freshbooks, fb_token, "invoices/invoices", per_page=2, page=2).json()["response"]["result"]

    assert [i["id"] for i in first["invoices"]] == [ids[2], ids[1]]
    assert [i["id"] for i in second["invoices"]] == [ids[0]]
    assert (first["pages"], first["total"]) == (2, 3)


def test_invoice_list_filters_on_status_numbers(freshbooks, fb_token):
    draft = _control(freshbooks, "invoices")["invoice"]["id"]
    sent = _control(freshbooks, "invoices")["invoice"]["id"]
    _control(freshbooks, f"invoices/{sent}/send")
    paid = _control(freshbooks, "invoices")["invoice"]["id"]
    _control(freshbooks, f"invoices/{paid}/send")
    _control(freshbooks, f"invoices/{paid}/pay")

    answer = _get(freshbooks, fb_token, "invoices/invoices", **{"search[statusids][]": ["2", "3", "8"]})

    listed = answer.json()["response"]["result"]
    assert [i["id"] for i in listed["invoices"]] == [sent]
    assert listed["total"] == 1 and draft != sent


def test_unknown_object_is_a_freshbooks_404(freshbooks, fb_token):
    answer = _get(freshbooks, fb_token, "invoices/invoices/424242")

    assert answer.status_code == 404
    error = answer.json()["response"]["errors"][0]
    assert (error["errno"], error["object"], error["value"]) == (1012, "invoice", "424242")


def test_bad_and_expired_tokens_get_401(freshbooks, fb_token):
    bad = requests.get(f"{freshbooks.url}/accounting/account/{fb_token['account_id']}/invoices/invoices",
                       headers={"Authorization": "Bearer nope"})
    _control(freshbooks, "tokens/expire", access_token=fb_token["access_token"])
    expired = _get(freshbooks, fb_token, "invoices/invoices")

    assert bad.status_code == 401 and bad.json()["errno"] == 401
    assert expired.status_code == 401 and expired.json()["errno"] == 401


def test_missing_scope_is_403(freshbooks):
    minted = _control(freshbooks, "tokens", scope="user:profile:read user:invoices:read")

    answer = requests.get(f"{freshbooks.url}/accounting/account/{minted['account_id']}/bills/bills",
                          headers={"Authorization": f"Bearer {minted['access_token']}"})

    assert answer.status_code == 403
    assert "user:bills:read" in answer.json()["message"]


def test_injected_errors_hit_the_next_calls_on_a_path_then_stop(freshbooks, fb_token):
    _control(freshbooks, "faults", path="/accounting/*/invoices/*", status=429, count=2, retry_after=3)

    statuses = [_get(freshbooks, fb_token, "invoices/invoices") for _ in range(3)]
    other = _get(freshbooks, fb_token, "payments/payments")

    assert [s.status_code for s in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert other.status_code == 200


def test_injected_401_500_and_404_use_freshbooks_shapes(freshbooks, fb_token):
    for status in (401, 500, 404):
        _control(freshbooks, "faults", path="/accounting/*", status=status)
    answers = [_get(freshbooks, fb_token, "invoices/invoices") for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 500, 404]
    assert answers[0].json()["errno"] == 401
    assert answers[2].json()["response"]["errors"][0]["errno"] == 1012


def test_injected_slow_answer(freshbooks, fb_token):
    _control(freshbooks, "faults", path="/auth/api/v1/users/me", delay=0.4)

    started = time.monotonic()
    answer = requests.get(f"{freshbooks.url}/auth/api/v1/users/me", headers=fb_token["headers"])

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.4


def test_page_offers_sample_buttons_that_change_the_account(freshbooks):
    page = requests.get(f"{freshbooks.url}/")
    clicked = requests.post(f"{freshbooks.url}/_control/invoices", headers={"Accept": "text/html"},
                            data={"account_id": freshbooks.books.default_account_id()}, allow_redirects=False)

    assert "Create a sample invoice" in page.text and "Create a sample bill" in page.text
    assert clicked.status_code == 303
    assert "Pay it" in requests.get(f"{freshbooks.url}/").text


def test_reset_gives_the_same_fresh_account_again(freshbooks, fb_token):
    before = requests.get(f"{freshbooks.url}/_control/state").json()
    _control(freshbooks, "invoices")

    _control(freshbooks, "reset")

    after = requests.get(f"{freshbooks.url}/_control/state").json()
    assert after["businesses"] == before["businesses"]
    assert after["accounts"][fb_token["account_id"]]["invoices"] == 0
    assert _get(freshbooks, fb_token, "invoices/invoices").status_code == 401  # tokens are gone too


def test_put_with_action_email_emails_the_invoice_and_records_it(freshbooks, fb_token):
    created = requests.post(f"{freshbooks.url}/_control/invoices", json={"amount": "120.00"}).json()["invoice"]
    url = (f"{freshbooks.url}/accounting/account/{fb_token['account_id']}/invoices/invoices/{created['id']}")

    answer = requests.put(url, headers=fb_token["headers"], json={"invoice": {
        "action_email": True, "email_recipients": ["billing@globex.test"], "email_include_pdf": False,
        "invoice_customized_email": {"subject": "Reminder", "body": "Please pay"}}})
    refused = requests.put(url, headers=fb_token["headers"], json={"invoice": {"action_email": True,
                                                                              "email_recipients": []}})

    assert answer.status_code == 200
    assert answer.json()["response"]["result"]["invoice"]["id"] == created["id"]
    emails = requests.get(f"{freshbooks.url}/_control/emails").json()["emails"]
    assert len(emails) == 1
    assert emails[0]["recipients"] == ["billing@globex.test"] and emails[0]["subject"] == "Reminder"
    assert refused.status_code == 422
