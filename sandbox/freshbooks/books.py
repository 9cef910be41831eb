"""The FreshBooks stand-in's accounts: identity, businesses and accounting objects shaped as FreshBooks'
API returns them, and the changes a real account goes through (create, send, pay,
update, delete), each reporting the webhook events FreshBooks would fire for it."""

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.store import Store

try:
    # Accounting datetimes (`updated`, `created_at` of invoices, payments, expenses) are naive US/Eastern.
    EASTERN = ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # a machine without tzdata: a fixed offset is close enough for a sandbox
    EASTERN = datetime.timezone(datetime.timedelta(hours=-5))

IDENTITY_ID = 1001
USER_ID = 1  # the legacy per-account user id sent in webhooks
FIRST_BUSINESS_ID = 2001
FIRST_MEMBERSHIP_ID = 140130
DEFAULT_CURRENCY = "USD"
INVOICE_DUE_DAYS = 30
BILL_DUE_DAYS = 14
PER_PAGE_DEFAULT = 15
PER_PAGE_MAX = 100

# Sample data so that clicking "Create a sample invoice" gives varied but reproducible results.
SAMPLE_CLIENTS = [
    ("Wile", "Coyote", "Acme Corporation", "billing@acme.example"),
    ("Hank", "Scorpio", "Globex Inc", "accounts@globex.example"),
    ("Bill", "Lumbergh", "Initech LLC", "ap@initech.example"),
]
SAMPLE_VENDORS = [
    ("Northwind Office Supply", "Nancy", "Davolio", "orders@northwind.example"),
    ("Contoso Cloud Hosting", "Kim", "Abercrombie", "billing@contoso.example"),
]
SAMPLE_INVOICE_AMOUNTS = ["180.00", "1250.00", "4200.00", "95.50", "12800.00", "640.00"]
SAMPLE_BILL_AMOUNTS = ["320.00", "89.99", "2400.00", "56.25"]
SAMPLE_EXPENSES = [("Office Depot", "Office Expenses", "42.17"), ("Delta Air Lines", "Travel", "612.40"),
                   ("Blue Bottle Coffee", "Meals and Entertainment", "23.50"),
                   ("GitHub", "Software", "21.00")]
# FreshBooks' standard expense categories (a subset), id -> name.
CATEGORIES = {1: "Advertising", 2: "Car & Truck Expenses", 3: "Office Expenses", 4: "Travel",
              5: "Meals and Entertainment", 6: "Software", 7: "Professional Fees", 8: "Utilities"}

# Invoice status names the control endpoints accept -> (status, v3_status, display_status).
INVOICE_STATUSES = {
    "disputed": (0, "disputed", "sent"), "draft": (1, "draft", "draft"), "sent": (2, "sent", "sent"),
    "viewed": (3, "viewed", "viewed"), "paid": (4, "paid", "sent"), "autopaid": (5, "autopaid", "sent"),
    "retry": (6, "retry", "sent"), "failed": (7, "failed", "sent"), "partial": (8, "partial", "sent"),
}
PAYMENT_TYPES = ["Check", "Credit", "Cash", "Bank Transfer", "Credit Card", "Debit", "PayPal", "VISA",
                 "MASTERCARD", "AMEX", "ACH", "Other"]
VIS_ACTIVE, VIS_DELETED, VIS_ARCHIVED = 0, 1, 2


@dataclass(frozen=True)
class Resource:
    key: str  # the collection in an account's state
    path: str  # after /accounting/account/{account_id}/
    singular: str
    plural: str
    scope: str
    id_field: str  # the field FreshBooks names in a not-found error
    event_prefix: str


RESOURCES = [
    Resource("invoices", "invoices/invoices", "invoice", "invoices", "user:invoices:read", "invoiceid", "invoice"),
    Resource("payments", "payments/payments", "payment", "payments", "user:payments:read", "paymentid", "payment"),
    Resource("bills", "bills/bills", "bill", "bills", "user:bills:read", "billid", "bill"),
    Resource("bill_payments", "bill_payments/bill_payments", "bill_payment", "bill_payments",
             "user:bill_payments:read", "billpaymentid", "bill_payment"),
    Resource("bill_vendors", "bill_vendors/bill_vendors", "bill_vendor", "bill_vendors",
             "user:bill_vendors:read", "vendorid", "bill_vendor"),
    Resource("expenses", "expenses/expenses", "expense", "expenses", "user:expenses:read", "expenseid", "expense"),
    Resource("clients", "users/clients", "client", "clients", "user:clients:read", "userid", "client"),
]
RESOURCES_BY_KEY = {r.key: r for r in RESOURCES}
# Updating an invoice (emailing it again) needs the write scope (FreshBooks' user:<object>:write).
INVOICE_WRITE_SCOPE = "user:invoices:write"
DEFAULT_SCOPES = ["user:profile:read"] + [r.scope for r in RESOURCES] + [INVOICE_WRITE_SCOPE]


class BooksError(Exception):
    """A control or API request that cannot be done: `status` and FreshBooks-style `errno`."""

    def __init__(self, status: int, message: str, errno: int = 1004, field: str = "", obj: str = "",
                 value: str = ""):
        super().__init__(message)
        self.status, self.message, self.errno = status, message, errno
        self.field, self.object, self.value = field, obj, value

    def body(self) -> dict:
        return {"response": {"errors": [{"errno": self.errno, "field": self.field, "message": self.message,
                                         "object": self.object, "value": self.value}]}}


def eastern_stamp(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S")


def utc_stamp(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def today() -> datetime.date:
    return datetime.datetime.now(EASTERN).date()


def money(amount: Decimal | str, code: str) -> dict:
    return {"amount": f"{Decimal(amount):.2f}", "code": code}


def decimal_param(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BooksError(422, f"{field} must be a decimal amount such as 180.00", 1004, field,
                         value=str(value)) from None
    if not amount.is_finite() or amount < 0:
        raise BooksError(422, f"{field} must be a positive amount", 1004, field, value=str(value))
    return amount.quantize(Decimal("0.01"))


def _account_id(seed: str, number: int) -> str:
    # Short alphanumeric ids like FreshBooks' ("6BApk"), deterministic per seed.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    digest = int(hashlib.sha256(f"{seed}:account:{number}".encode()).hexdigest(), 16)
    chars = []
    for _ in range(5):
        digest, index = divmod(digest, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


def initial_state(seed: str) -> dict:
    created = "2024-01-15 09:30:00"
    data = {
        "counters": {},
        "settings": {
            "deleted_objects": "soft",  # "soft": GET after delete shows vis_state 1; "404": answers 404
            "resend_rotates_verifier": False,  # whether a verification resend issues a new verifier
            "verify_delay": 0.2,  # seconds between registering a callback and its verification POST
        },
        "delivery": {"delay": 0.0, "jitter": 0.0, "paused": False, "timeout": 10.0},
        "identity": {
            "id": IDENTITY_ID, "identity_id": IDENTITY_ID, "identity_uuid": f"sbx-identity-{seed}",
            "first_name": "Sam", "last_name": "Sandbox", "email": "owner@sandbox.example",
            "language": "en", "confirmed_at": created, "created_at": created, "setup_complete": True,
            "unconfirmed_email": None, "phone_numbers": [], "addresses": [], "profession": None,
        },
        "businesses": [],
        "accounts": {},
        "codes": {}, "tokens": {}, "refresh_tokens": {},
        "callbacks": {},
        "events": {}, "deliveries": {},
        "faults": [],
    }
    return data


class Books:
    """Accounts and their objects. Every method takes the store's lock and returns what it changed plus
    the events to fire as [(name, object_id)]."""

    def __init__(self, store: Store):
        self.store = store
        if not store.data["businesses"]:
            self.set_business_count(1)

    @property
    def data(self) -> dict:
        return self.store.data

    # -- businesses ----------------------------------------------------------------------------------

    def set_business_count(self, count: int) -> list[dict]:
        if not 1 <= count <= 20:
            raise BooksError(422, "count must be between 1 and 20", field="count", value=str(count))
        with self.store.lock:
            businesses = self.data["businesses"]
            while len(businesses) < count:
                number = len(businesses) + 1
                names = ["Sandbox Studio", "Sandbox Consulting", "Sandbox Retail", "Sandbox Labs"]
                name = names[number - 1] if number <= len(names) else f"Sandbox Business {number}"
                business = {
                    "id": FIRST_BUSINESS_ID + number - 1,
                    "business_uuid": f"5a0db0c5-0000-4000-8000-{number:012d}",
                    "name": name,
                    "account_id": _account_id(self.store.seed, number),
                    "membership_id": FIRST_MEMBERSHIP_ID + number - 1,
                    "active": True,
                }
                businesses.append(business)
                self._seed_account(business["account_id"])
            for index, business in enumerate(businesses):
                business["active"] = index < count
            self.store.changed()
            return [b for b in businesses if b["active"]]

    def active_businesses(self) -> list[dict]:
        return [b for b in self.data["businesses"] if b["active"]]

    def business(self, account_id: str) -> dict:
        for business in self.active_businesses():
            if business["account_id"] == account_id:
                return business
        raise BooksError(404, "Account not found.", 1012, "accountid", "account", account_id)

    def default_account_id(self) -> str:
        return self.active_businesses()[0]["account_id"]

    def identity_response(self) -> dict:
        identity = dict(self.data["identity"])
        identity["business_memberships"] = [{
            "id": b["membership_id"], "role": "owner", "unacknowledged_change": False, "fasttrack_token": None,
            "business": {"id": b["id"], "business_uuid": b["business_uuid"], "name": b["name"],
                         "account_id": b["account_id"], "date_format": "mm/dd/yyyy",
                         "timezone": "America/New_York", "address": {"street": "1 Sandbox Way", "city": "Toronto",
                                                                     "province": "Ontario", "country": "Canada",
                                                                     "postal_code": "M5V 2T6"},
                         "phone_number": None, "business_clients": []},
        } for b in self.active_businesses()]
        identity["roles"] = [{"id": b["membership_id"], "role": "admin", "systemid": b["id"], "userid": USER_ID,
                              "accountid": b["account_id"], "created_at": identity["created_at"]}
                             for b in self.active_businesses()]
        identity["groups"] = []
        identity["permissions"] = {}
        return {"response": identity}

    def _seed_account(self, account_id: str) -> None:
        account = {r.key: {} for r in RESOURCES}
        account["invoice_number"] = 0
        account["bill_number"] = 0
        self.data["accounts"][account_id] = account
        for fname, lname, organization, email in SAMPLE_CLIENTS:
            self._new_client(account_id, fname, lname, organization, email, DEFAULT_CURRENCY)
        for vendor_name, first, last, email in SAMPLE_VENDORS:
            self._new_vendor(account_id, vendor_name, first, last, email, DEFAULT_CURRENCY)

    # -- reading -------------------------------------------------------------------------------------

    def account(self, account_id: str) -> dict:
        self.business(account_id)
        return self.data["accounts"][account_id]

    def get(self, account_id: str, resource: Resource, object_id: str, includes: list[str] = ()) -> dict:
        with self.store.lock:
            obj = self.account(account_id)[resource.key].get(str(object_id))
            if obj is None or (obj.get("vis_state") == VIS_DELETED
                               and self.data["settings"]["deleted_objects"] == "404"):
                raise BooksError(404, f"{resource.singular.replace('_', ' ').capitalize()} not found.", 1012,
                                 resource.id_field, resource.singular, str(object_id))
            return public_view(resource, obj, includes)

    def list(self, account_id: str, resource: Resource, page: int, per_page: int,
             includes: list[str] = (), filters: dict | None = None) -> dict:
        per_page = max(1, min(per_page, PER_PAGE_MAX))
        with self.store.lock:
            objects = list(self.account(account_id)[resource.key].values())
            filters = filters or {}
            if "vis_state" in filters:
                objects = [o for o in objects if str(o.get("vis_state")) == str(filters["vis_state"])]
            elif self.data["settings"]["deleted_objects"] == "404":
                objects = [o for o in objects if o.get("vis_state") != VIS_DELETED]
            if "statusids" in filters:
                wanted = {str(v) for v in filters["statusids"]}
                objects = [o for o in objects if str(o.get("status")) in wanted]
            objects.sort(key=lambda o: -int(o["id"]))  # newest first, as FreshBooks lists
            total = len(objects)
            pages = max(1, -(-total // per_page))
            chunk = objects[(page - 1) * per_page: page * per_page]
            return {resource.plural: [public_view(resource, o, includes) for o in chunk],
                    "page": page, "pages": pages, "per_page": per_page, "total": total}

    def _find(self, account_id: str, key: str, object_id) -> dict:
        resource = RESOURCES_BY_KEY[key]
        obj = self.account(account_id)[key].get(str(object_id))
        if obj is None:
            raise BooksError(404, f"{resource.singular.replace('_', ' ').capitalize()} not found.", 1012,
                             resource.id_field, resource.singular, str(object_id))
        if obj.get("vis_state") == VIS_DELETED:
            raise BooksError(422, f"This {resource.singular.replace('_', ' ')} has been deleted.", 1011,
                             resource.id_field, resource.singular, str(object_id))
        return obj

    # -- clients and vendors -------------------------------------------------------------------------

    def _new_client(self, account_id, fname, lname, organization, email, currency) -> dict:
        client_id = self.store.next_id("client", start=31001)
        client = {
            "id": client_id, "userid": client_id, "accounting_systemid": account_id,
            "fname": fname, "lname": lname, "organization": organization, "email": email,
            "username": None, "currency_code": currency, "language": "en",
            "bus_phone": "", "home_phone": "", "mob_phone": "", "fax": "", "note": None,
            "p_street": "100 Main Street", "p_street2": "", "p_city": "Springfield", "p_province": "Illinois",
            "p_code": "62701", "p_country": "United States",
            "s_street": "", "s_street2": "", "s_city": "", "s_province": "", "s_code": "", "s_country": "",
            "signup_date": utc_stamp(), "updated": eastern_stamp(), "vis_state": VIS_ACTIVE,
            "allow_late_fees": True, "allow_late_notifications": True, "has_retainer": None,
        }
        self.data["accounts"][account_id]["clients"][str(client_id)] = client
        return client

    def _new_vendor(self, account_id, name, first, last, email, currency) -> dict:
        vendor_id = self.store.next_id("bill_vendor", start=7001)
        stamp = utc_stamp()
        vendor = {
            "id": vendor_id, "vendorid": vendor_id, "vendor_name": name, "primary_contact_first_name": first,
            "primary_contact_last_name": last, "primary_contact_email": email, "currency_code": currency,
            "account_number": f"ACCT-{vendor_id}", "street": "200 Supply Road", "street2": "",
            "city": "Seattle", "province": "Washington", "postal_code": "98101", "country": "United States",
            "phone": "", "website": "", "language": "en", "is_1099": False, "note": None,
            "outstanding_balance": [], "overdue_balance": [],
            "created_at": stamp, "updated_at": stamp, "vis_state": VIS_ACTIVE,
        }
        self.data["accounts"][account_id]["bill_vendors"][str(vendor_id)] = vendor
        return vendor

    def client_create(self, account_id: str, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            self.account(account_id)
            organization = str(params.get("organization") or "").strip()
            if not organization and not params.get("fname"):
                raise BooksError(422, "A client needs an organization or a first name.", 1001, "organization")
            client = self._new_client(account_id, str(params.get("fname") or ""), str(params.get("lname") or ""),
                                      organization, str(params.get("email") or ""),
                                      str(params.get("currency_code") or DEFAULT_CURRENCY).upper())
            self.store.changed()
            return client, [("client.create", client["id"])]

    def _client_for(self, account_id: str, params: dict) -> tuple[dict, list]:
        """The client named by client_id / organization, creating it (client.create) if new."""
        clients = self.data["accounts"][account_id]["clients"]
        if params.get("client_id") or params.get("customerid"):
            return self._find(account_id, "clients", params.get("client_id") or params.get("customerid")), []
        organization = str(params.get("organization") or params.get("client") or "").strip()
        if organization:
            for client in clients.values():
                if client["organization"].lower() == organization.lower() and client["vis_state"] == VIS_ACTIVE:
                    return client, []
            return self.client_create(account_id, {"organization": organization, "email": params.get("email"),
                                                   "currency_code": params.get("currency_code")})
        active = [c for c in clients.values() if c["vis_state"] == VIS_ACTIVE]
        if not active:
            return self.client_create(account_id, {"organization": SAMPLE_CLIENTS[0][2]})
        number = self.data["accounts"][account_id]["invoice_number"]
        return active[number % len(active)], []

    def _vendor_for(self, account_id: str, params: dict) -> tuple[dict, list]:
        vendors = self.data["accounts"][account_id]["bill_vendors"]
        if params.get("vendor_id") or params.get("vendorid"):
            return self._find(account_id, "bill_vendors", params.get("vendor_id") or params.get("vendorid")), []
        name = str(params.get("vendor_name") or params.get("vendor") or "").strip()
        if name:
            for vendor in vendors.values():
                if vendor["vendor_name"].lower() == name.lower() and vendor["vis_state"] == VIS_ACTIVE:
                    return vendor, []
            vendor = self._new_vendor(account_id, name, "", "", "",
                                      str(params.get("currency_code") or DEFAULT_CURRENCY).upper())
            return vendor, [("bill_vendor.create", vendor["id"])]
        active = [v for v in vendors.values() if v["vis_state"] == VIS_ACTIVE]
        if not active:
            vendor = self._new_vendor(account_id, SAMPLE_VENDORS[0][0], "", "", "", DEFAULT_CURRENCY)
            return vendor, [("bill_vendor.create", vendor["id"])]
        number = self.data["accounts"][account_id]["bill_number"]
        return active[number % len(active)], []

    # -- invoices ------------------------------------------------------------------------------------

    def invoice_create(self, account_id: str, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            account = self.account(account_id)
            client, events = self._client_for(account_id, params)
            number = account["invoice_number"] + 1
            amount = decimal_param(params["amount"], "amount") if params.get("amount") not in (None, "") \
                else Decimal(SAMPLE_INVOICE_AMOUNTS[(number - 1) % len(SAMPLE_INVOICE_AMOUNTS)])
            currency = str(params.get("currency_code") or client["currency_code"] or DEFAULT_CURRENCY).upper()
            invoice_id = self.store.next_id("invoice", start=29601)
            account["invoice_number"] = number
            created = today()
            due = params.get("due_date") or (created + datetime.timedelta(
                days=int(params.get("due_days") or INVOICE_DUE_DAYS))).isoformat()
            stamp = eastern_stamp()
            description = str(params.get("description") or "Consulting services")
            invoice = {
                "id": invoice_id, "invoiceid": invoice_id, "invoice_number": str(params.get("invoice_number")
                                                                               or f"{number:07d}"),
                "accountid": account_id, "accounting_systemid": account_id, "ownerid": USER_ID,
                "customerid": client["id"], "fname": client["fname"], "lname": client["lname"],
                "organization": client["organization"], "current_organization": client["organization"],
                "email": client["email"], "street": client["p_street"], "street2": "", "city": client["p_city"],
                "province": client["p_province"], "code": client["p_code"], "country": client["p_country"],
                "amount": money(amount, currency), "outstanding": money(amount, currency),
                "paid": money(0, currency), "discount_total": money(0, currency), "discount_value": "0",
                "currency_code": currency, "language": "en", "create_date": created.isoformat(),
                "due_date": due, "due_offset_days": (datetime.date.fromisoformat(due) - created).days,
                "date_paid": None, "created_at": stamp, "updated": stamp,
                "status": 1, "v3_status": "draft", "display_status": "draft", "payment_status": "unpaid",
                "deposit_status": "none", "deposit_amount": None, "deposit_percentage": None,
                "autobill_status": None, "auto_bill": False, "dispute_status": None, "vis_state": VIS_ACTIVE,
                "terms": str(params.get("terms") or "Net 30"), "notes": str(params.get("notes") or ""),
                "po_number": params.get("po_number"), "description": description, "template": "clean-grouped",
                "estimateid": 0, "basecampid": 0, "sentid": USER_ID, "parent": 0, "ext_archive": 0,
                "show_attachments": True, "generation_date": None, "last_order_status": None,
                "lines": [{
                    "lineid": 1, "invoiceid": invoice_id, "name": description, "description": "",
                    "qty": "1", "unit_cost": money(amount, currency), "amount": money(amount, currency),
                    "type": 0, "taxName1": None, "taxAmount1": None, "taxName2": None, "taxAmount2": None,
                    "updated": stamp,
                }],
                "_sent": False,
            }
            account["invoices"][str(invoice_id)] = invoice
            self.store.changed()
            return invoice, events + [("invoice.create", invoice_id)]

    def invoice_send(self, account_id: str, invoice_id) -> tuple[dict, list]:
        with self.store.lock:
            invoice = self._find(account_id, "invoices", invoice_id)
            invoice["_sent"] = True
            if invoice["status"] in (1,):
                invoice["status"], invoice["v3_status"], invoice["display_status"] = INVOICE_STATUSES["sent"]
            invoice["updated"] = eastern_stamp()
            self.store.changed()
            # Sending by email fires its own event, and the status change is an update.
            return invoice, [("invoice.sendByEmail", invoice["id"]), ("invoice.update", invoice["id"])]

    def invoice_email(self, account_id: str, invoice_id, update: dict) -> tuple[dict, list]:
        """PUT with action_email: record the email to the recipients, mark the invoice sent."""
        recipients = update.get("email_recipients")
        if not isinstance(recipients, list) or not recipients or \
                not all(isinstance(r, str) and "@" in r for r in recipients):
            raise BooksError(422, "email_recipients must list at least one email address", 1004,
                             "email_recipients", "invoice", str(recipients))
        custom = update.get("invoice_customized_email") if isinstance(update.get("invoice_customized_email"),
                                                                          dict) else {}
        with self.store.lock:
            invoice, events = self.invoice_send(account_id, invoice_id)
            self.data.setdefault("emails", []).append({
                "account_id": account_id, "invoice_id": invoice["id"], "invoice_number": invoice["invoice_number"],
                "recipients": recipients, "subject": str(custom.get("subject") or ""),
                "body": str(custom.get("body") or ""), "include_pdf": bool(update.get("email_include_pdf")),
                "sent_at": utc_stamp()})
            self.store.changed()
        return invoice, events

    def invoice_update(self, account_id: str, invoice_id, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            invoice = self._find(account_id, "invoices", invoice_id)
            code = invoice["currency_code"]
            if params.get("amount") not in (None, ""):
                amount = decimal_param(params["amount"], "amount")
                invoice["amount"] = money(amount, code)
                invoice["lines"][0]["unit_cost"] = money(amount, code)
                invoice["lines"][0]["amount"] = money(amount, code)
                self._refresh_invoice(account_id, invoice)
            for field in ("due_date", "notes", "po_number", "terms", "description"):
                if field in params:
                    invoice[field] = params[field]
            if params.get("status"):
                name = str(params["status"]).lower()
                if name not in INVOICE_STATUSES:
                    raise BooksError(422, f"Unknown status {name}; use one of {', '.join(INVOICE_STATUSES)}",
                                     1004, "status", "invoice", name)
                invoice["status"], invoice["v3_status"], invoice["display_status"] = INVOICE_STATUSES[name]
            invoice["updated"] = eastern_stamp()
            self.store.changed()
            return invoice, [("invoice.update", invoice["id"])]

    def invoice_pay(self, account_id: str, invoice_id, params: dict) -> tuple[dict, dict, list]:
        with self.store.lock:
            invoice = self._find(account_id, "invoices", invoice_id)
            outstanding = Decimal(invoice["outstanding"]["amount"])
            amount = decimal_param(params["amount"], "amount") if params.get("amount") not in (None, "") \
                else outstanding
            if amount <= 0:
                raise BooksError(422, "This invoice has nothing outstanding to pay.", 1004, "amount", "payment",
                                 str(amount))
            payment_type = str(params.get("type") or "Check")
            if payment_type not in PAYMENT_TYPES:
                raise BooksError(422, f"Unknown payment type {payment_type}", 1004, "type", "payment", payment_type)
            payment_id = self.store.next_id("payment", start=10865301)
            code = invoice["currency_code"]
            payment = {
                "id": payment_id, "invoiceid": invoice["id"], "clientid": invoice["customerid"],
                "amount": money(amount, code), "date": str(params.get("date") or today().isoformat()),
                "type": payment_type, "note": str(params.get("note") or ""), "gateway": None,
                "transactionid": None, "creditid": None, "overpaymentid": None, "from_credit": False,
                "orderid": None, "logid": payment_id, "send_client_notification": False,
                "accounting_systemid": account_id, "updated": eastern_stamp(), "vis_state": VIS_ACTIVE,
            }
            self.data["accounts"][account_id]["payments"][str(payment_id)] = payment
            self._refresh_invoice(account_id, invoice)
            invoice["updated"] = eastern_stamp()
            self.store.changed()
            # A real account fires the payment first, then the invoice's status change.
            return payment, invoice, [("payment.create", payment_id), ("invoice.update", invoice["id"])]

    def _refresh_invoice(self, account_id: str, invoice: dict) -> None:
        """Recompute paid / outstanding / statuses from the invoice's active payments."""
        code = invoice["currency_code"]
        payments = [p for p in self.data["accounts"][account_id]["payments"].values()
                    if p["invoiceid"] == invoice["id"] and p["vis_state"] == VIS_ACTIVE]
        paid = sum((Decimal(p["amount"]["amount"]) for p in payments), Decimal("0"))
        amount = Decimal(invoice["amount"]["amount"])
        invoice["paid"] = money(paid, code)
        invoice["outstanding"] = money(max(amount - paid, Decimal("0")), code)
        if paid >= amount and amount > 0:
            invoice["status"], invoice["v3_status"], invoice["display_status"] = INVOICE_STATUSES["paid"]
            invoice["payment_status"] = "paid"
            invoice["date_paid"] = max(p["date"] for p in payments)
        elif paid > 0:
            invoice["status"], invoice["v3_status"], invoice["display_status"] = INVOICE_STATUSES["partial"]
            invoice["payment_status"] = "partial"
            invoice["date_paid"] = None
        else:
            state = "sent" if invoice.get("_sent") else "draft"
            if invoice["status"] in (4, 5, 8, 1, 2):
                invoice["status"], invoice["v3_status"], invoice["display_status"] = INVOICE_STATUSES[state]
            invoice["payment_status"] = "unpaid"
            invoice["date_paid"] = None

    # -- payments ------------------------------------------------------------------------------------

    def payment_create(self, account_id: str, params: dict) -> tuple[dict, dict, list]:
        invoice_id = params.get("invoice_id") or params.get("invoiceid")
        if not invoice_id:
            raise BooksError(422, "A payment needs invoice_id.", 1001, "invoiceid", "payment")
        return self.invoice_pay(account_id, invoice_id, params)

    def payment_update(self, account_id: str, payment_id, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            payment = self._find(account_id, "payments", payment_id)
            if params.get("amount") not in (None, ""):
                payment["amount"] = money(decimal_param(params["amount"], "amount"), payment["amount"]["code"])
            for field in ("note", "date", "type"):
                if params.get(field) not in (None, ""):
                    payment[field] = str(params[field])
            payment["updated"] = eastern_stamp()
            events = [("payment.update", payment["id"])]
            invoice = self.data["accounts"][account_id]["invoices"].get(str(payment["invoiceid"]))
            if invoice is not None and params.get("amount") not in (None, ""):
                self._refresh_invoice(account_id, invoice)
                invoice["updated"] = eastern_stamp()
                events.append(("invoice.update", invoice["id"]))
            self.store.changed()
            return payment, events

    # -- bills ---------------------------------------------------------------------------------------

    def bill_create(self, account_id: str, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            account = self.account(account_id)
            vendor, events = self._vendor_for(account_id, params)
            number = account["bill_number"] + 1
            amount = decimal_param(params["amount"], "amount") if params.get("amount") not in (None, "") \
                else Decimal(SAMPLE_BILL_AMOUNTS[(number - 1) % len(SAMPLE_BILL_AMOUNTS)])
            currency = str(params.get("currency_code") or vendor["currency_code"] or DEFAULT_CURRENCY).upper()
            category_id, category_name = self._category(params.get("category") or "Office Expenses")
            bill_id = self.store.next_id("bill", start=4001)
            account["bill_number"] = number
            issued = today()
            due = params.get("due_date") or (issued + datetime.timedelta(
                days=int(params.get("due_days") or BILL_DUE_DAYS))).isoformat()
            stamp = utc_stamp()
            description = str(params.get("description") or f"{category_name} from {vendor['vendor_name']}")
            bill = {
                "id": bill_id, "bill_number": str(params.get("bill_number") or f"BILL-{number:04d}"),
                "vendorid": vendor["vendorid"], "vendor": public_view(RESOURCES_BY_KEY["bill_vendors"], vendor),
                "amount": money(amount, currency), "total_amount": money(amount, currency),
                "outstanding": money(amount, currency), "paid": money(0, currency),
                "tax_amount": money(0, currency), "currency_code": currency, "language": "en",
                "issue_date": issued.isoformat(), "due_date": due,
                "due_offset_days": (datetime.date.fromisoformat(due) - issued).days,
                "status": "unpaid", "overall_category": category_name, "overall_description": description,
                "bill_payments": [], "attachment": None,
                "lines": [{
                    "id": 1, "list_index": 1, "description": description, "quantity": "1",
                    "unit_cost": money(amount, currency), "amount": money(amount, currency),
                    "total_amount": money(amount, currency),
                    "category": {"category": category_name, "categoryid": category_id},
                    "tax_name1": None, "tax_percent1": None, "tax_amount1": None,
                    "tax_name2": None, "tax_percent2": None, "tax_amount2": None,
                }],
                "created_at": stamp, "updated_at": stamp, "vis_state": VIS_ACTIVE,
            }
            account["bills"][str(bill_id)] = bill
            self.store.changed()
            return bill, events + [("bill.create", bill_id)]

    def bill_update(self, account_id: str, bill_id, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            bill = self._find(account_id, "bills", bill_id)
            code = bill["currency_code"]
            if params.get("amount") not in (None, ""):
                amount = decimal_param(params["amount"], "amount")
                for key in ("amount", "total_amount"):
                    bill[key] = money(amount, code)
                bill["lines"][0].update(unit_cost=money(amount, code), amount=money(amount, code),
                                        total_amount=money(amount, code))
                self._refresh_bill(account_id, bill)
            for field in ("due_date", "overall_description"):
                if params.get(field) not in (None, ""):
                    bill[field] = str(params[field])
            if params.get("category"):
                category_id, name = self._category(params["category"])
                bill["overall_category"] = name
                bill["lines"][0]["category"] = {"category": name, "categoryid": category_id}
            bill["updated_at"] = utc_stamp()
            self.store.changed()
            return bill, [("bill.update", bill["id"])]

    def bill_pay(self, account_id: str, bill_id, params: dict) -> tuple[dict, dict, list]:
        with self.store.lock:
            bill = self._find(account_id, "bills", bill_id)
            outstanding = Decimal(bill["outstanding"]["amount"])
            amount = decimal_param(params["amount"], "amount") if params.get("amount") not in (None, "") \
                else outstanding
            if amount <= 0:
                raise BooksError(422, "This bill has nothing outstanding to pay.", 1004, "amount",
                                 "bill_payment", str(amount))
            payment_id = self.store.next_id("bill_payment", start=8001)
            payment = {
                "id": payment_id, "billid": bill["id"], "amount": money(amount, bill["currency_code"]),
                "paid_date": str(params.get("date") or today().isoformat()),
                "payment_type": str(params.get("type") or "Bank Transfer"), "note": str(params.get("note") or ""),
                "matched_with_expense": False, "vis_state": VIS_ACTIVE,
            }
            self.data["accounts"][account_id]["bill_payments"][str(payment_id)] = payment
            self._refresh_bill(account_id, bill)
            bill["updated_at"] = utc_stamp()
            self.store.changed()
            # No bill_payment.* webhook exists in FreshBooks' list: the bill's update fires.
            return payment, bill, [("bill.update", bill["id"])]

    def _refresh_bill(self, account_id: str, bill: dict) -> None:
        code = bill["currency_code"]
        payments = [p for p in self.data["accounts"][account_id]["bill_payments"].values()
                    if p["billid"] == bill["id"] and p["vis_state"] == VIS_ACTIVE]
        paid = sum((Decimal(p["amount"]["amount"]) for p in payments), Decimal("0"))
        total = Decimal(bill["total_amount"]["amount"])
        bill["paid"] = money(paid, code)
        bill["outstanding"] = money(max(total - paid, Decimal("0")), code)
        bill["bill_payments"] = [dict(p) for p in payments]
        if paid >= total and total > 0:
            bill["status"] = "paid"
        elif paid > 0:
            bill["status"] = "partial"
        else:
            bill["status"] = "overdue" if bill["due_date"] < today().isoformat() else "unpaid"

    # -- expenses ------------------------------------------------------------------------------------

    def _category(self, value) -> tuple[int, str]:
        text = str(value).strip()
        if text.isdigit() and int(text) in CATEGORIES:
            return int(text), CATEGORIES[int(text)]
        for category_id, name in CATEGORIES.items():
            if name.lower() == text.lower():
                return category_id, name
        raise BooksError(422, f"Unknown category {text}; use one of: {', '.join(CATEGORIES.values())}", 1004,
                         "categoryid", "category", text)

    def _category_object(self, category_id: int) -> dict:
        return {"id": category_id, "categoryid": category_id, "category": CATEGORIES[category_id],
                "is_cogs": False, "is_editable": False, "parentid": None, "vis_state": VIS_ACTIVE,
                "created_at": "2024-01-15 09:30:00", "updated_at": "2024-01-15 09:30:00"}

    def expense_create(self, account_id: str, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            account = self.account(account_id)
            number = len(account["expenses"]) + 1
            sample_vendor, sample_category, sample_amount = SAMPLE_EXPENSES[(number - 1) % len(SAMPLE_EXPENSES)]
            amount = decimal_param(params["amount"], "amount") if params.get("amount") not in (None, "") \
                else Decimal(sample_amount)
            category_id, _ = self._category(params.get("category") or sample_category)
            client_id = 0
            if params.get("client_id") or params.get("clientid"):
                client_id = self._find(account_id, "clients", params.get("client_id") or params.get("clientid"))["id"]
            currency = str(params.get("currency_code") or DEFAULT_CURRENCY).upper()
            expense_id = self.store.next_id("expense", start=9001)
            stamp = eastern_stamp()
            expense = {
                "id": expense_id, "expenseid": expense_id, "accounting_systemid": account_id,
                "amount": money(amount, currency), "vendor": str(params.get("vendor") or sample_vendor),
                "date": str(params.get("date") or today().isoformat()), "categoryid": category_id,
                "category": self._category_object(category_id), "clientid": client_id, "projectid": 0,
                "invoiceid": None, "staffid": USER_ID, "notes": str(params.get("notes") or ""), "status": 0,
                "has_receipt": False, "markup_percent": "0", "isduplicate": False, "is_cogs": False,
                "taxAmount1": None, "taxName1": None, "taxPercent1": None,
                "taxAmount2": None, "taxName2": None, "taxPercent2": None,
                "bank_name": "", "account_name": "", "transactionid": None, "ext_accountid": None,
                "background_jobid": None, "updated": stamp, "vis_state": VIS_ACTIVE,
            }
            account["expenses"][str(expense_id)] = expense
            self.store.changed()
            return expense, [("expense.create", expense_id)]

    def expense_update(self, account_id: str, expense_id, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            expense = self._find(account_id, "expenses", expense_id)
            if params.get("amount") not in (None, ""):
                expense["amount"] = money(decimal_param(params["amount"], "amount"), expense["amount"]["code"])
            if params.get("category"):
                category_id, _ = self._category(params["category"])
                expense["categoryid"], expense["category"] = category_id, self._category_object(category_id)
            if params.get("client_id") not in (None, ""):
                client_id = params["client_id"]
                expense["clientid"] = 0 if str(client_id) == "0" else self._find(account_id, "clients", client_id)["id"]
            for field in ("vendor", "notes", "date"):
                if params.get(field) not in (None, ""):
                    expense[field] = str(params[field])
            expense["updated"] = eastern_stamp()
            self.store.changed()
            return expense, [("expense.update", expense["id"])]

    def client_update(self, account_id: str, client_id, params: dict) -> tuple[dict, list]:
        with self.store.lock:
            client = self._find(account_id, "clients", client_id)
            for field in ("fname", "lname", "organization", "email", "currency_code", "note"):
                if params.get(field) not in (None, ""):
                    client[field] = str(params[field])
            client["updated"] = eastern_stamp()
            self.store.changed()
            return client, [("client.update", client["id"])]

    # -- deleting ------------------------------------------------------------------------------------

    def delete(self, account_id: str, key: str, object_id) -> tuple[dict, list]:
        """Soft delete (vis_state 1), as FreshBooks does, plus the follow-on changes of the parent."""
        resource = RESOURCES_BY_KEY[key]
        with self.store.lock:
            obj = self._find(account_id, key, object_id)
            obj["vis_state"] = VIS_DELETED
            if "updated_at" in obj:
                obj["updated_at"] = utc_stamp()
            else:
                obj["updated"] = eastern_stamp()
            events = [(f"{resource.event_prefix}.delete", obj["id"])]
            if key == "payments":
                invoice = self.data["accounts"][account_id]["invoices"].get(str(obj["invoiceid"]))
                if invoice is not None and invoice["vis_state"] != VIS_DELETED:
                    self._refresh_invoice(account_id, invoice)
                    invoice["updated"] = eastern_stamp()
                    events.append(("invoice.update", invoice["id"]))
            self.store.changed()
            return obj, events


def public_view(resource: Resource, obj: dict, includes=()) -> dict:
    """An object as the API shows it: no private `_` fields; invoice lines only with include[]=lines."""
    view = {k: v for k, v in obj.items() if not k.startswith("_")}
    if resource.key == "invoices" and "lines" not in includes:
        view.pop("lines", None)
    return view
