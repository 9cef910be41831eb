"""FreshBooks stand-in: callbacks with the verification handshake, and webhooks signed exactly as the
reference documents them (§1, §2)."""

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

import requests

from sandbox.freshbooks.webhooks import SIGNATURE_HEADER, sign
from tests.sandbox.conftest import wait_for

WEBHOOK_FIELDS = ["name", "object_id", "account_id", "business_id", "identity_id", "user_id"]


def reference_signature_ok(raw_body: bytes, header: str | None, verifier: str) -> bool:
    """FreshBooks' documented check: how a receiver checks the signature."""
    if not header:
        return False
    pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True)
    payload = json.dumps(dict(pairs))
    calc = base64.b64encode(hmac.new(verifier.encode("utf-8"), payload.encode("utf-8"),
                                     hashlib.sha256).digest()).decode()
    return hmac.compare_digest(calc, header.strip())


def _callbacks_url(freshbooks, fb_token, callback_id=None) -> str:
    url = f"{freshbooks.url}/events/account/{fb_token['account_id']}/events/callbacks"
    return f"{url}/{callback_id}" if callback_id else url


def _register(freshbooks, fb_token, receiver, event="invoice.create", verify=True) -> tuple[int, str]:
    created = requests.post(_callbacks_url(freshbooks, fb_token), headers=fb_token["headers"],
                            json={"callback": {"event": event, "uri": f"{receiver.url}/hooks/{event}"}})
    callback_id = created.json()["response"]["result"]["callback"]["callbackid"]
    verification = wait_for(lambda: [f for f in receiver.forms("callback.verify")
                                     if f["object_id"] == str(callback_id)])[-1]
    if verify:
        answer = requests.put(_callbacks_url(freshbooks, fb_token, callback_id), headers=fb_token["headers"],
                              json={"callback": {"verifier": verification["verifier"]}})
        assert answer.json()["response"]["result"]["callback"]["verified"] is True
    return callback_id, verification["verifier"]


def _events(receiver) -> list:
    return [r for r in receiver.requests if dict(r.form_pairs()).get("name") != "callback.verify"]


def test_documented_signature_vector():
    body = "name=invoice.create&object_id=1234567&account_id=6BApk&business_id=6543&identity_id=1234&user_id=1"

    signature = sign(parse_qsl(body), "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd")

    assert signature == "/S03vyYmI7CekM4YXBHUhs9o5rnMtqGLrW3aA8S9gPc="
    assert reference_signature_ok(body.encode(), signature, "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd")


def test_registering_a_callback_posts_the_verification_form(freshbooks, fb_token, receiver):
    created = requests.post(_callbacks_url(freshbooks, fb_token), headers=fb_token["headers"],
                            json={"callback": {"event": "invoice.create", "uri": f"{receiver.url}/hook"}})

    callback = created.json()["response"]["result"]["callback"]
    assert callback["verified"] is False and set(callback) == {"callbackid", "verified", "uri", "event",
                                                               "updated_at"}
    form = wait_for(lambda: receiver.forms("callback.verify"))[0]
    assert form["object_id"] == str(callback["callbackid"])
    assert form["account_id"] == fb_token["account_id"]
    assert len(form["verifier"]) >= 20 and "user_id" in form
    assert receiver.requests[0].header("Content-Type") == "application/x-www-form-urlencoded"


def test_handshake_wrong_verifier_refused_right_one_verifies(freshbooks, fb_token, receiver):
    callback_id, verifier = _register(freshbooks, fb_token, receiver, verify=False)
    url = _callbacks_url(freshbooks, fb_token, callback_id)

    wrong = requests.put(url, headers=fb_token["headers"], json={"callback": {"verifier": "guess"}})
    right = requests.put(url, headers=fb_token["headers"],
                         json={"callback": {"callback_id": callback_id, "verifier": verifier}})

    assert wrong.status_code == 422 and wrong.json()["errno"] == 422
    assert right.json()["response"]["result"]["callback"]["verified"] is True
    fetched = requests.get(url, headers=fb_token["headers"]).json()
    assert fetched["response"]["result"]["callback"]["verified"] is True


def test_unverified_callbacks_receive_no_events(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver, verify=False)

    requests.post(f"{freshbooks.url}/_control/invoices", json={})
    time.sleep(0.2)

    assert _events(receiver) == []


def test_webhook_body_fields_order_and_signature(freshbooks, fb_token, receiver):
    _, verifier = _register(freshbooks, fb_token, receiver)

    invoice = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()["invoice"]

    request = wait_for(lambda: _events(receiver))[0]
    pairs = request.form_pairs()
    assert [k for k, _ in pairs] == WEBHOOK_FIELDS
    assert dict(pairs) == {"name": "invoice.create", "object_id": str(invoice["id"]),
                           "account_id": fb_token["account_id"], "business_id": str(fb_token["business_id"]),
                           "identity_id": "1001", "user_id": "1"}
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert reference_signature_ok(request.body, request.header(SIGNATURE_HEADER), verifier)
    assert not reference_signature_ok(request.body, request.header(SIGNATURE_HEADER), verifier + "x")


def test_paying_fires_payment_create_and_invoice_update_to_their_callbacks(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver, "payment.create")
    _register(freshbooks, fb_token, receiver, "invoice.update")
    invoice_id = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()["invoice"]["id"]

    requests.post(f"{freshbooks.url}/_control/invoices/{invoice_id}/pay", json={})

    sent = wait_for(lambda: len(_events(receiver)) >= 2 and _events(receiver))
    assert sorted((r.path, dict(r.form_pairs())["name"]) for r in sent) == [
        ("/hooks/invoice.update", "invoice.update"), ("/hooks/payment.create", "payment.create")]


def test_a_parent_event_callback_receives_every_sub_event(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver, "invoice")
    invoice_id = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()["invoice"]["id"]

    requests.post(f"{freshbooks.url}/_control/invoices/{invoice_id}/send", json={})

    sent = wait_for(lambda: len(_events(receiver)) >= 3 and _events(receiver))
    assert [dict(r.form_pairs())["name"] for r in sent] == ["invoice.create", "invoice.sendByEmail",
                                                            "invoice.update"]


def test_redelivering_an_event_sends_the_same_signed_body_again(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver)
    created = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()
    first = wait_for(lambda: _events(receiver))[0]

    requests.post(f"{freshbooks.url}/_control/events/{created['events'][0]['id']}/redeliver", json={})

    second = wait_for(lambda: len(_events(receiver)) >= 2 and _events(receiver))[1]
    assert second.body == first.body
    assert second.header(SIGNATURE_HEADER) == first.header(SIGNATURE_HEADER)
    # The stand-in records an attempt's status after the receiver has answered: wait for both records.
    log = wait_for(lambda: (lambda body: all(w["attempts"] for w in body["webhooks"]) and body)(
        requests.get(f"{freshbooks.url}/_control/webhooks", params={"name": "invoice.create"}).json()))
    assert [w["attempts"][0]["status"] for w in log["webhooks"]] == [200, 200]
    assert log["webhooks"][1]["redelivery_of"] == log["webhooks"][0]["id"]


def test_held_deliveries_released_in_reverse_order(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver, "invoice")
    requests.post(f"{freshbooks.url}/_control/delivery", json={"paused": True})
    created = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()["invoice"]["id"]
    requests.post(f"{freshbooks.url}/_control/invoices/{created}/update", json={"notes": "changed"})
    time.sleep(0.1)
    assert _events(receiver) == []

    requests.post(f"{freshbooks.url}/_control/delivery", json={"paused": False, "release_order": "reverse"})

    sent = wait_for(lambda: len(_events(receiver)) >= 2 and _events(receiver))
    assert [dict(r.form_pairs())["name"] for r in sent] == ["invoice.update", "invoice.create"]


def test_delivery_delay(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver)
    requests.post(f"{freshbooks.url}/_control/delivery", json={"delay": 0.3})

    started = time.monotonic()
    requests.post(f"{freshbooks.url}/_control/invoices", json={})
    wait_for(lambda: _events(receiver))

    assert time.monotonic() - started >= 0.3


def test_failed_delivery_records_the_receivers_answer(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver)
    receiver.status = 401

    requests.post(f"{freshbooks.url}/_control/invoices", json={})

    def attempted():
        webhooks = requests.get(f"{freshbooks.url}/_control/webhooks", params={"name": "invoice.create"}).json()
        return webhooks["webhooks"] and webhooks["webhooks"][0]["attempts"] and webhooks["webhooks"][0]
    webhook = wait_for(attempted)
    assert webhook["status"] == "failed" and webhook["attempts"][0]["status"] == 401


def test_list_filter_resend_and_delete(freshbooks, fb_token, receiver):
    callback_id, verifier = _register(freshbooks, fb_token, receiver, "invoice")
    _register(freshbooks, fb_token, receiver, "bill.create")
    url = _callbacks_url(freshbooks, fb_token)

    listed = requests.get(url, headers=fb_token["headers"], params={"search[event]": "invoice.create"}).json()
    requests.put(f"{url}/{callback_id}", headers=fb_token["headers"], json={"callback": {"resend": True}})
    resent = wait_for(lambda: [f for f in receiver.forms("callback.verify") if f["object_id"] == str(callback_id)]
                      [1:])
    deleted = requests.delete(f"{url}/{callback_id}", headers=fb_token["headers"])
    requests.post(f"{freshbooks.url}/_control/invoices", json={})
    time.sleep(0.2)

    result = listed["response"]["result"]
    assert [c["callbackid"] for c in result["callbacks"]] == [callback_id] and result["total"] == 1
    assert resent[0]["verifier"] == verifier
    assert deleted.status_code == 204
    assert requests.get(f"{url}/{callback_id}", headers=fb_token["headers"]).status_code == 404
    assert _events(receiver) == []


def test_events_api_rejects_unknown_events_and_bad_tokens(freshbooks, fb_token):
    url = _callbacks_url(freshbooks, fb_token)

    unknown = requests.post(url, headers=fb_token["headers"],
                            json={"callback": {"event": "invoice.explode", "uri": "not a url"}})
    unauthorised = requests.get(url, headers={"Authorization": "Bearer nope"})

    assert unknown.status_code == 422
    assert unknown.json()["details"] == ["event: Value error, Unrecognized event.",
                                         "uri: Input should be a valid URL, relative URL without a base"]
    assert unauthorised.status_code == 401 and unauthorised.json()["errno"] == 401


def test_dropped_webhooks_are_never_sent_until_delivered_late(freshbooks, fb_token, receiver):
    _register(freshbooks, fb_token, receiver, "invoice")
    switched = requests.post(f"{freshbooks.url}/_control/delivery", json={"drop": True}).json()
    assert switched["drop"] is True
    created = requests.post(f"{freshbooks.url}/_control/invoices", json={}).json()["invoice"]["id"]
    requests.post(f"{freshbooks.url}/_control/invoices/{created}/update", json={"notes": "changed"})
    time.sleep(0.2)
    assert _events(receiver) == []
    statuses = [w["status"] for w in requests.get(f"{freshbooks.url}/_control/webhooks").json()["webhooks"]
                if w["name"] != "callback.verify"]
    assert statuses == ["dropped", "dropped"]
    page = requests.get(f"{freshbooks.url}/").text
    assert "Dropping webhooks" in page and "Deliver the 2 dropped late" in page

    requests.post(f"{freshbooks.url}/_control/delivery", json={"drop": False})
    time.sleep(0.2)
    assert _events(receiver) == []  # switching back on does not send what was lost ...
    late = requests.post(f"{freshbooks.url}/_control/webhooks/dropped/deliver", json={}).json()["deliveries"]
    assert len(late) == 2  # ... unless asked to deliver it late

    sent = wait_for(lambda: len(_events(receiver)) >= 2 and _events(receiver))
    assert [dict(r.form_pairs())["name"] for r in sent] == ["invoice.create", "invoice.update"]


class _KeepAliveDropper:
    """A receiver that answers every request with keep-alive, and closes a kept-alive connection, unanswered,
    when its second request arrives: what a server does whose idle timeout fires as the client reuses it."""

    def __init__(self):
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.answered: list[bytes] = []
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import threading

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn):
        with conn:
            for number in range(2):
                request = self._request(conn)
                if request is None:
                    return
                if number == 1:
                    self.dropped += 1
                    return
                self.answered.append(request)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")

    @staticmethod
    def _request(conn) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return body

    def close(self):
        self.listener.close()


def test_a_kept_alive_connection_closed_as_it_is_reused_does_not_lose_the_webhook(freshbooks, fb_token):
    dropper = _KeepAliveDropper()
    try:
        created = requests.post(_callbacks_url(freshbooks, fb_token), headers=fb_token["headers"],
                                json={"callback": {"event": "invoice.create", "uri": f"{dropper.url}/hook"}})
        callback_id = created.json()["response"]["result"]["callback"]["callbackid"]
        verification = dict(parse_qsl(wait_for(lambda: dropper.answered)[0].decode()))  # then kept alive
        requests.put(_callbacks_url(freshbooks, fb_token, callback_id), headers=fb_token["headers"],
                     json={"callback": {"verifier": verification["verifier"]}})

        requests.post(f"{freshbooks.url}/_control/invoices", json={})

        webhooks = wait_for(lambda: [w for w in requests.get(f"{freshbooks.url}/_control/webhooks").json()["webhooks"]
                                     if w["status"] != "pending" and "callback.verify" not in w["body"]])
        assert dropper.dropped == 1
        assert webhooks[0]["status"] == "delivered" and webhooks[0]["attempts"][-1]["status"] == 200
        assert any(b"invoice.create" in body for body in dropper.answered)
    finally:
        dropper.close()
