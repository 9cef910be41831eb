"""The FreshBooks stand-in's Events API: callbacks with the verification handshake, and webhooks signed
as FreshBooks signs them (base64 HMAC-SHA256 over the JSON of the form fields), sent through a background
queue that can delay, hold, reorder and redeliver."""

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import random
import threading
import time
from urllib.parse import urlencode, urlsplit

import requests

from sandbox.freshbooks.books import IDENTITY_ID, USER_ID, Books, utc_stamp
from sandbox.store import Store

SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
USER_AGENT = "FreshBooks-Sandbox-Webhooks/1.0"
VERIFIER_LENGTH = 31  # like the captured verifier "xf8pxDkZfSXuak7S4qaGQBvxArpMvqR"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RESPONSE_EXCERPT_CHARS = 200  # how much of a receiver's answer a delivery record keeps
CALLBACKS_PER_PAGE_DEFAULT = 15

# Event names FreshBooks accepts for callbacks; a bare resource name is the parent event.
_CRUD_RESOURCES = ["invoice", "payment", "bill", "bill_vendor", "expense", "client", "estimate", "credit_note",
                   "category", "item", "project", "recurring", "service", "tax", "time_entry"]
KNOWN_EVENTS = frozenset(
    [f"{r}.{a}" for r in _CRUD_RESOURCES for a in ("create", "update", "delete")]
    + ["invoice.sendByEmail", "estimate.sendByEmail"] + _CRUD_RESOURCES)

log = logging.getLogger("sandbox.freshbooks.webhooks")


def sign(fields: list[tuple[str, str]], verifier: str) -> str:
    """The documented algorithm: base64 HMAC-SHA256, keyed by the verifier, of Python's json.dumps of the
    form fields in the order they are sent, default separators."""
    message = json.dumps({k: str(v) for k, v in fields})
    digest = hmac.new(verifier.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def event_matches(callback_event: str, name: str) -> bool:
    return callback_event == name or ("." not in callback_event and name.split(".")[0] == callback_event)


class EventsApiError(Exception):
    """An Events API error in its flat shape {"errno", "message"[, "details"]}."""

    def __init__(self, status: int, message: str, details: list | None = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details

    def body(self) -> dict:
        body = {"errno": self.status, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


NOT_FOUND_MESSAGE = "Requested resource could not be found."
UNPROCESSABLE_MESSAGE = "The request was well-formed but was unable to be followed due to semantic errors."


class Webhooks:
    def __init__(self, store: Store, books: Books, workers: int = 1):
        self.store = store
        self.books = books
        self.workers = max(1, workers)
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, int]] = []  # (due, seq, delivery id): event deliveries
        self._urgent: list[tuple[float, int, int]] = []  # verification POSTs: never held by a pause
        self._seq = itertools.count()
        self._rng = random.Random(f"{store.seed}:delivery")
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._local = threading.local()

    @property
    def data(self) -> dict:
        return self.store.data

    # -- callbacks (Events API) ----------------------------------------------------------------------

    def _verifier(self) -> str:
        number = int(self.store.secret("verifier", 64), 16)
        chars = []
        for _ in range(VERIFIER_LENGTH):
            number, index = divmod(number, len(BASE62))
            chars.append(BASE62[index])
        return "".join(chars)

    @staticmethod
    def public_callback(callback: dict) -> dict:
        return {"callbackid": callback["callbackid"], "verified": callback["verified"], "uri": callback["uri"],
                "event": callback["event"], "updated_at": callback["updated_at"]}

    def _callback(self, account_id: str, callback_id) -> dict:
        callback = self.data["callbacks"].get(str(callback_id))
        if callback is None or callback["account_id"] != account_id:
            raise EventsApiError(404, NOT_FOUND_MESSAGE)
        return callback

    @staticmethod
    def _validate(event, uri) -> None:
        details = []
        if event is not None and event not in KNOWN_EVENTS:
            details.append("event: Value error, Unrecognized event.")
        if uri is not None:
            parts = urlsplit(str(uri))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                details.append("uri: Input should be a valid URL, relative URL without a base")
        if details:
            raise EventsApiError(422, UNPROCESSABLE_MESSAGE, details)

    def callback_create(self, account_id: str, body: dict) -> dict:
        event, uri = body.get("event"), body.get("uri")
        self._validate(event or "", uri or "")
        with self.store.lock:
            callback_id = self.store.next_id("callback", start=2001)
            callback = {"callbackid": callback_id, "account_id": account_id, "event": event, "uri": uri,
                        "verified": False, "verifier": self._verifier(), "updated_at": _iso_now()}
            self.data["callbacks"][str(callback_id)] = callback
            self.store.changed()
        self._send_verification(callback)
        return self.public_callback(callback)

    def callback_list(self, account_id: str, event: str | None, page: int, per_page: int) -> dict:
        with self.store.lock:
            callbacks = [c for c in self.data["callbacks"].values() if c["account_id"] == account_id]
        if event:
            # "Matches event and parent event"
            callbacks = [c for c in callbacks if c["event"] in (event, event.split(".")[0])]
        per_page = max(1, min(per_page, 100))
        total = len(callbacks)
        chunk = callbacks[(page - 1) * per_page: page * per_page]
        return {"callbacks": [self.public_callback(c) for c in chunk], "page": page,
                "pages": max(1, -(-total // per_page)), "per_page": per_page, "total": total}

    def callback_get(self, account_id: str, callback_id) -> dict:
        with self.store.lock:
            return self.public_callback(self._callback(account_id, callback_id))

    def callback_update(self, account_id: str, callback_id, body: dict) -> dict:
        send_verification = False
        with self.store.lock:
            callback = self._callback(account_id, callback_id)
            if "verifier" in body:
                if not hmac.compare_digest(str(body["verifier"]), callback["verifier"]):
                    raise EventsApiError(422, UNPROCESSABLE_MESSAGE, ["verifier: Invalid verifier."])
                callback["verified"] = True
            elif body.get("resend") not in (None, False, "false", "0", 0):
                if self.data["settings"]["resend_rotates_verifier"]:
                    callback["verifier"] = self._verifier()
                    callback["verified"] = False
                send_verification = True
            else:
                self._validate(body.get("event"), body.get("uri"))
                if body.get("event"):
                    callback["event"] = body["event"]
                if body.get("uri") and body["uri"] != callback["uri"]:
                    # A new address must prove itself again.
                    callback["uri"] = body["uri"]
                    callback["verified"] = False
                    send_verification = True
            callback["updated_at"] = _iso_now()
            self.store.changed()
            result = self.public_callback(callback)
        if send_verification:
            self._send_verification(callback)
        return result

    def callback_delete(self, account_id: str, callback_id) -> None:
        with self.store.lock:
            self._callback(account_id, callback_id)
            del self.data["callbacks"][str(callback_id)]
            self.store.changed()

    def _send_verification(self, callback: dict) -> None:
        business = self.books.business(callback["account_id"])
        # Field order of a real capture. Whether FreshBooks signs this POST is unverified;
        # the stand-in signs it with the verifier itself, so a receiver must not depend on either.
        fields = [("user_id", str(USER_ID)), ("name", "callback.verify"), ("verifier", callback["verifier"]),
                  ("object_id", str(callback["callbackid"])), ("account_id", callback["account_id"]),
                  ("business_id", str(business["id"])), ("system", "https://sandbox.freshbooks.com")]
        delivery = self._new_delivery(None, callback, fields)
        self._schedule(delivery["id"], float(self.data["settings"]["verify_delay"]), urgent=True)

    # -- events --------------------------------------------------------------------------------------

    def emit(self, account_id: str, events: list[tuple[str, object]]) -> list[dict]:
        """Record each event and queue one delivery per verified callback that wants it."""
        records = []
        with self.store.lock:
            business = self.books.business(account_id)
            for name, object_id in events:
                event_id = self.store.next_id("event")
                fields = [("name", name), ("object_id", str(object_id)), ("account_id", account_id),
                          ("business_id", str(business["id"])), ("identity_id", str(IDENTITY_ID)),
                          ("user_id", str(USER_ID))]
                record = {"id": event_id, "name": name, "object_id": str(object_id), "account_id": account_id,
                          "business_id": business["id"], "created_at": _iso_now(), "fields": fields,
                          "deliveries": []}
                self.data["events"][str(event_id)] = record
                dropping = bool(self.data["delivery"].get("drop"))
                for callback in self._subscribers(account_id, name):
                    delivery = self._new_delivery(event_id, callback, fields)
                    record["deliveries"].append(delivery["id"])
                    if dropping:  # lost on FreshBooks' side: never sent unless delivered late on request
                        delivery["status"] = "dropped"
                    else:
                        self._schedule(delivery["id"], self._delay())
                records.append({"id": event_id, "name": name, "object_id": str(object_id),
                                "deliveries": list(record["deliveries"])})
            self.store.changed()
        return records

    def _subscribers(self, account_id: str, name: str) -> list[dict]:
        return [c for c in self.data["callbacks"].values()
                if c["account_id"] == account_id and c["verified"] and event_matches(c["event"], name)]

    def _new_delivery(self, event_id, callback: dict, fields: list, redelivery_of=None) -> dict:
        with self.store.lock:
            delivery_id = self.store.next_id("delivery")
            delivery = {"id": delivery_id, "event_id": event_id, "callback_id": callback["callbackid"],
                        "uri": callback["uri"], "name": dict(fields)["name"],
                        "object_id": dict(fields)["object_id"], "fields": [list(f) for f in fields],
                        "verifier_key": callback["verifier"], "redelivery_of": redelivery_of,
                        "status": "pending", "created_at": _iso_now(), "attempts": []}
            self.data["deliveries"][str(delivery_id)] = delivery
            self.store.changed()
            return delivery

    def redeliver_event(self, event_id) -> list[int]:
        """Send an event again, as FreshBooks' retries do: the same body to the same callbacks."""
        with self.store.lock:
            event = self.data["events"].get(str(event_id))
            if event is None:
                raise EventsApiError(404, f"No event {event_id}")
            originals = [self.data["deliveries"][str(d)] for d in event["deliveries"]
                         if str(d) in self.data["deliveries"] and not
                         self.data["deliveries"][str(d)]["redelivery_of"]]
            new_ids = []
            if originals:
                for original in originals:
                    new_ids.append(self.redeliver(original["id"]))
            else:
                for callback in self._subscribers(event["account_id"], event["name"]):
                    delivery = self._new_delivery(event["id"], callback, [tuple(f) for f in event["fields"]])
                    event["deliveries"].append(delivery["id"])
                    self._schedule(delivery["id"], self._delay())
                    new_ids.append(delivery["id"])
            return new_ids

    def deliver_dropped(self) -> list[int]:
        """Send every dropped webhook now, oldest first (FreshBooks delivering them late)."""
        with self.store.lock:
            dropped = sorted(int(d["id"]) for d in self.data["deliveries"].values() if d["status"] == "dropped")
            for delivery_id in dropped:
                self.data["deliveries"][str(delivery_id)]["status"] = "pending"
            self.store.changed()
        for delivery_id in dropped:
            self._schedule(delivery_id, 0.0)
        return dropped

    def redeliver(self, delivery_id) -> int:
        with self.store.lock:
            original = self.data["deliveries"].get(str(delivery_id))
            if original is None:
                raise EventsApiError(404, f"No delivery {delivery_id}")
            callback = self.data["callbacks"].get(str(original["callback_id"]))
            if callback is None:
                raise EventsApiError(404, f"Callback {original['callback_id']} no longer exists")
            fields = [tuple(f) for f in original["fields"]]
            if fields and fields[0][0] == "user_id":  # a verification POST: resend it with today's verifier
                fields = [(k, callback["verifier"] if k == "verifier" else v) for k, v in fields]
            delivery = self._new_delivery(original["event_id"], callback, fields, redelivery_of=original["id"])
            if original["event_id"] is not None:
                self.data["events"][str(original["event_id"])]["deliveries"].append(delivery["id"])
            self._schedule(delivery["id"], self._delay(), urgent=original["event_id"] is None)
            return delivery["id"]

    # -- the delivery queue --------------------------------------------------------------------------

    def _delay(self) -> float:
        settings = self.data["delivery"]
        jitter = float(settings.get("jitter") or 0)
        return float(settings.get("delay") or 0) + (self._rng.uniform(0, jitter) if jitter else 0.0)

    def _schedule(self, delivery_id: int, delay: float, urgent: bool = False) -> None:
        with self._cond:
            heapq.heappush(self._urgent if urgent else self._queue,
                           (time.monotonic() + delay, next(self._seq), delivery_id))
            self._cond.notify()

    def configure(self, params: dict) -> dict:
        """Delivery settings: delay, jitter (random extra delay, so events overtake each other),
        paused (hold everything), drop (lose every new webhook, as FreshBooks' best effort may), timeout;
        on un-pausing, release_order fifo | reverse | shuffle."""
        with self.store.lock:
            settings = self.data["delivery"]
            for key in ("delay", "jitter", "timeout"):
                if params.get(key) not in (None, ""):
                    value = float(params[key])
                    if value < 0:
                        raise EventsApiError(422, f"{key} must not be negative")
                    settings[key] = value
            was_paused = settings["paused"]
            if "paused" in params:
                settings["paused"] = _truthy(params["paused"])
            if "drop" in params:
                settings["drop"] = _truthy(params["drop"])
            self.store.changed()
            result = dict(settings)
        if was_paused and not result["paused"]:
            self._release(str(params.get("release_order") or "fifo"))
        with self._cond:
            self._cond.notify_all()
            result["queued"] = len(self._queue)
        return result

    def _release(self, order: str) -> None:
        if order not in ("fifo", "reverse", "shuffle"):
            raise EventsApiError(422, "release_order must be fifo, reverse or shuffle")
        with self._cond:
            held = sorted(self._queue)
            if order == "reverse":
                held.reverse()
            elif order == "shuffle":
                self._rng.shuffle(held)
            now = time.monotonic()
            self._queue = [(now, next(self._seq), item[2]) for item in held]
            heapq.heapify(self._queue)
            self._cond.notify_all()

    def _take(self) -> tuple[int | None, float | None]:
        """Under the condition: the next due delivery id, or how long to wait for one."""
        heaps = [self._urgent] + ([self._queue] if not self.data["delivery"]["paused"] else [])
        heaps = [h for h in heaps if h]
        if not heaps:
            return None, None
        first = min(heaps, key=lambda h: h[0])
        wait = first[0][0] - time.monotonic()
        if wait <= 0:
            return heapq.heappop(first)[2], None
        return None, wait

    def _worker(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    delivery_id, wait = self._take()
                    if delivery_id is not None:
                        break
                    self._cond.wait(timeout=wait if wait is not None else 1.0)
            try:
                self._send(delivery_id)
            except Exception:
                log.exception("delivery %s failed unexpectedly", delivery_id)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _post(self, uri: str, body: str, headers: dict, timeout: float) -> requests.Response:
        """One webhook POST. A kept-alive connection can be closed by the receiver (gunicorn's keepalive, 2 s)
        at the moment it is reused; that loses nothing on the receiver's side, so the POST is sent again
        once, on a new connection, as HTTP clients do. A receiver that is down fails both times."""
        data = body.encode("utf-8")
        try:
            return self._session().post(uri, data=data, headers=headers, timeout=timeout, allow_redirects=False)
        except requests.ConnectionError:
            self._local.session.close()
            del self._local.session
            return self._session().post(uri, data=data, headers=headers, timeout=timeout, allow_redirects=False)

    def _send(self, delivery_id: int) -> None:
        with self.store.lock:
            delivery = self.data["deliveries"].get(str(delivery_id))
            if delivery is None:  # reset meanwhile
                return
            fields = [tuple(f) for f in delivery["fields"]]
            uri, verifier = delivery["uri"], delivery["verifier_key"]
            timeout = float(self.data["delivery"]["timeout"])
        body = urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT,
                   SIGNATURE_HEADER: sign(fields, verifier)}
        started = time.monotonic()
        attempt = {"at": _iso_now(), "status": None, "error": None, "ms": None, "response": None}
        try:
            answer = self._post(uri, body, headers, timeout)
            attempt["status"] = answer.status_code
            attempt["response"] = answer.text[:RESPONSE_EXCERPT_CHARS]
        except requests.RequestException as error:
            attempt["error"] = f"{type(error).__name__}: {error}"[:RESPONSE_EXCERPT_CHARS]
        attempt["ms"] = round((time.monotonic() - started) * 1000, 1)
        with self.store.lock:
            delivery = self.data["deliveries"].get(str(delivery_id))
            if delivery is not None:
                delivery["attempts"].append(attempt)
                delivery["status"] = "delivered" if attempt["status"] and 200 <= attempt["status"] < 300 \
                    else "failed"
                self.store.changed()
        log.info("webhook %s %s object_id=%s -> %s", delivery_id, dict(fields).get("name"),
                 dict(fields).get("object_id"), attempt["status"] or attempt["error"])

    def public_delivery(self, delivery: dict) -> dict:
        view = {k: v for k, v in delivery.items() if k != "verifier_key"}
        view["body"] = urlencode([tuple(f) for f in delivery["fields"]])
        view["signature"] = sign([tuple(f) for f in delivery["fields"]], delivery["verifier_key"])
        return view

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        # Deliveries still pending from a previous run (state file) go out again.
        with self.store.lock:
            pending = [d for d in self.data["deliveries"].values() if d["status"] == "pending"]
        for delivery in pending:
            self._schedule(delivery["id"], 0.0, urgent=delivery["event_id"] is None)
        for number in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"freshbooks-webhooks-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []

    def clear(self) -> None:
        with self._cond:
            self._queue, self._urgent = [], []


def _iso_now() -> str:
    return utc_stamp().replace(" ", "T") + "Z"


def _truthy(value) -> bool:
    return value in (True, 1) or str(value).lower() in ("1", "true", "yes", "on")
