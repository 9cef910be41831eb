"""The only module that speaks HTTP to FreshBooks: OAuth tokens, identity, objects and callbacks.

Every URL derives from settings.FRESHBOOKS_AUTH_URL / FRESHBOOKS_API_URL. Every
failure is raised as one of the typed errors of connector.freshbooks.errors.
"""

import contextlib
import http.cookiejar
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from connector.freshbooks.errors import (
    AuthorizationLost,
    FreshBooksBug,
    FreshBooksError,
    NotFound,
    RateLimited,
    Transient,
)
from connector.freshbooks.lifecycle import connection_mark_needs_reauth
from connector.freshbooks.models import FreshBooksConnection

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5  # seconds to open a connection to FreshBooks: longer means it is down for us
READ_TIMEOUT = 20  # seconds to wait for an answer; well inside Celery's 60 s soft limit
TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)
# Refresh this long before the access token expires, so a token never dies between check and use.
REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME = 12 * 3600  # seconds; FreshBooks documents 12 h when a response omits expires_in
# What the product reads: profile for the identity, and the four kinds of object
# plus the clients and vendors they name.
SCOPES = (
    "user:profile:read",
    "user:invoices:read",
    "user:invoices:write",  # emailing an invoice again (a reminder from Slack) is an update of the invoice
    "user:payments:read",
    "user:bills:read",
    "user:bill_vendors:read",
    "user:expenses:read",
    "user:clients:read",
)
# Accounting errnos meaning "no such object": 1011 DeletedResource, 1012 UnknownResource.
NOT_FOUND_ERRNOS = {1011, 1012}
MAX_RETRY_AFTER = 3600  # seconds; a larger Retry-After hint is capped so work is not parked for days
USER_AGENT = "ml-connector (+https://github.com/ml-connector)"

# Object kind -> (path under /accounting/account/<account_id>/, key in response.result).
RESOURCES = {
    "invoice": ("invoices/invoices", "invoice"),
    "payment": ("payments/payments", "payment"),
    "bill": ("bills/bills", "bill"),
    "bill_vendor": ("bill_vendors/bill_vendors", "bill_vendor"),
    "expense": ("expenses/expenses", "expense"),
    "client": ("users/clients", "client"),
}
# Object kind -> the list's key in response.result (the plural of the singular key).
LIST_KEYS = {"invoice": "invoices", "payment": "payments", "bill": "bills", "bill_vendor": "bill_vendors",
             "expense": "expenses", "client": "clients"}
LIST_PAGE_MAX = 100  # the largest page FreshBooks serves


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Business:
    account_id: str
    business_id: str
    name: str
    role: str
    time_zone: str = ""  # the business's IANA time zone when FreshBooks gives one (`business.timezone`)


@dataclass(frozen=True)
class ListPage:
    """One page of an accounting list: the objects and where the list stands."""

    items: list[dict]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Identity:
    identity_id: str
    email: str
    businesses: list[Business]


# --- Transport --------------------------------------------------------------------------------------

_sessions = threading.local()


def _session() -> requests.Session:
    """This thread's HTTP session: its connections to FreshBooks are kept open and reused (one per worker
    thread; requests' Session is not meant to be shared between threads). It keeps no cookies, so nothing
    one tenant's call receives can reach another tenant's."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        _sessions.session = session
    return session


def _send(method: str, url: str, *, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return _session().request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
    except requests.Timeout as exc:
        raise Transient(f"FreshBooks did not answer in time ({type(exc).__name__})") from exc
    except requests.ConnectionError as exc:
        raise Transient(f"Could not reach FreshBooks ({type(exc).__name__})") from exc
    except requests.RequestException as exc:
        raise FreshBooksBug(f"Request to FreshBooks failed ({type(exc).__name__})") from exc


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError as exc:
        raise FreshBooksBug("FreshBooks answered with something that is not JSON",
                            status_code=response.status_code) from exc
    if not isinstance(body, dict):
        raise FreshBooksBug("FreshBooks answered with an unexpected JSON shape", status_code=response.status_code)
    return body


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(int(value), 0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def _error_text(response: requests.Response) -> str:
    """A short, secret-free description of a FreshBooks error body."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    errors = (body.get("response") or {}).get("errors") if isinstance(body.get("response"), dict) else None
    if errors:
        first = errors[0]
        return f"HTTP {response.status_code}: {first.get('message', '')} (errno {first.get('errno', '?')})"[:300]
    for key in ("error_description", "message", "error"):
        if body.get(key):
            return f"HTTP {response.status_code}: {body[key]}"[:300]
    return f"HTTP {response.status_code}"


def _errnos(response: requests.Response) -> set[int]:
    try:
        body = response.json()
    except ValueError:
        return set()
    found = set()
    resp = body.get("response") if isinstance(body, dict) else None
    for err in (resp or {}).get("errors", []) if isinstance(resp, dict) else []:
        with contextlib.suppress(TypeError, ValueError):
            found.add(int(err.get("errno")))
    for detail in body.get("details", []) if isinstance(body, dict) else []:  # new-style errors
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            found.add(int(detail.get("reason")))
    return found


def _raise_for(response: requests.Response) -> None:
    """Maps a non-2xx answer (or a 2xx carrying accounting errors) to a typed error."""
    status = response.status_code
    if 200 <= status < 300 and not _errnos(response):
        return
    text = _error_text(response)
    if status == 404 or _errnos(response) & NOT_FOUND_ERRNOS:
        raise NotFound(text, status_code=status)
    if status == 429:
        raise RateLimited(text, retry_after=_retry_after(response))
    if status >= 500:
        raise Transient(text, status_code=status)
    if status == 401:
        raise AuthorizationLost(text, status_code=status)
    raise FreshBooksBug(text, status_code=status)


# --- OAuth ---------------------------------------------------------------------------

def authorize_url(*, state: str, redirect_uri: str) -> str:
    query = urlencode({
        "client_id": settings.FRESHBOOKS_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
    })
    return f"{settings.FRESHBOOKS_AUTH_URL}/oauth/authorize?{query}"


def _token_request(payload: dict) -> TokenGrant:
    payload = {"client_id": settings.FRESHBOOKS_CLIENT_ID, "client_secret": settings.FRESHBOOKS_CLIENT_SECRET,
               **payload}
    response = _send("POST", f"{settings.FRESHBOOKS_API_URL}/auth/oauth/token", data=payload)
    status = response.status_code
    if status in (400, 401, 403):  # invalid_grant, revoked, wrong client: only the user can fix it
        raise AuthorizationLost(_error_text(response), status_code=status)
    _raise_for(response)
    body = _json(response)
    if not body.get("access_token") or not body.get("refresh_token"):
        raise FreshBooksBug("FreshBooks' token answer had no access or refresh token", status_code=status)
    try:
        lifetime = int(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        issued = datetime.fromtimestamp(int(body["created_at"]), tz=UTC) if body.get("created_at") \
            else timezone.now()
    except (TypeError, ValueError) as exc:
        raise FreshBooksBug("FreshBooks' token answer had an unreadable expiry") from exc
    return TokenGrant(access_token=body["access_token"], refresh_token=body["refresh_token"],
                      expires_at=issued + timedelta(seconds=lifetime))


def oauth_exchange_code(*, code: str, redirect_uri: str) -> TokenGrant:
    return _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def oauth_refresh(*, refresh_token: str, redirect_uri: str) -> TokenGrant:
    return _token_request({"grant_type": "refresh_token", "refresh_token": refresh_token,
                           "redirect_uri": redirect_uri})


def oauth_revoke(*, token: str) -> None:
    """Revokes a token (half-verified endpoint). Raises the typed errors on refusal."""
    response = _send("POST", f"{settings.FRESHBOOKS_API_URL}/auth/oauth/revoke", json={
        "client_id": settings.FRESHBOOKS_CLIENT_ID, "client_secret": settings.FRESHBOOKS_CLIENT_SECRET,
        "token": token,
    })
    _raise_for(response)


def identity_url() -> str:
    return f"{settings.FRESHBOOKS_API_URL}/auth/api/v1/users/me"


def identity_fetch(*, access_token: str) -> Identity:
    """The signed-in FreshBooks user and the businesses they belong to (`/auth/api/v1/users/me`)."""
    response = _send("GET", identity_url(), token=access_token)
    _raise_for(response)
    return _identity_parse(response)


def _identity_parse(response: requests.Response) -> Identity:
    me = _json(response).get("response")
    if not isinstance(me, dict):
        raise FreshBooksBug("FreshBooks' identity answer had no response object")
    businesses = []
    for membership in me.get("business_memberships") or []:
        business = (membership or {}).get("business") or {}
        if business.get("account_id") and business.get("id") is not None:
            businesses.append(Business(account_id=str(business["account_id"]), business_id=str(business["id"]),
                                       name=str(business.get("name") or ""), role=str(membership.get("role") or ""),
                                       time_zone=str(business.get("timezone") or "")))
    return Identity(identity_id=str(me.get("identity_id") or me.get("id") or ""), email=str(me.get("email") or ""),
                    businesses=businesses)


def redirect_uri() -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('freshbooks:oauth_callback')}"


# --- The per-connection client ----------------------------------------------------------------------

def _expiring(connection: FreshBooksConnection) -> bool:
    return connection.expires_at is None or connection.expires_at - REFRESH_MARGIN <= timezone.now()


class FreshBooksClient:
    """Calls on behalf of one connection. Refreshes its token shortly before expiry and once on a 401,
    under a row lock on the connection, so concurrent workers spend a single-use refresh token once."""

    def __init__(self, connection: FreshBooksConnection):
        self.connection = connection

    # Objects
    def object_get(self, kind: str, object_id: str) -> dict:
        path, key = RESOURCES[kind]
        url = f"{self._accounting_base()}/{path}/{object_id}"
        body = _json(self._request("GET", url))
        result = ((body.get("response") or {}).get("result") or {}).get(key)
        if not isinstance(result, dict):
            raise FreshBooksBug(f"FreshBooks' {kind} answer had no {key!r} object")
        return result

    def objects_list(self, kind: str, *, search: dict | None = None, page: int = 1,
                     per_page: int = LIST_PAGE_MAX) -> ListPage:
        """One page of a list. `search` maps a filter name to a value, or to a list for
        the "in" filters (`{"statusids": [2, 3]}` -> `search[statusids][]=2&search[statusids][]=3`)."""
        path, _ = RESOURCES[kind]
        params: list[tuple[str, str]] = [("page", str(page)), ("per_page", str(min(per_page, LIST_PAGE_MAX)))]
        for name, value in (search or {}).items():
            if isinstance(value, list | tuple):
                params.extend((f"search[{name}][]", str(v)) for v in value)
            else:
                params.append((f"search[{name}]", str(value)))
        body = _json(self._request("GET", f"{self._accounting_base()}/{path}", params=params))
        result = (body.get("response") or {}).get("result") or {}
        items = result.get(LIST_KEYS[kind])
        if not isinstance(items, list):
            raise FreshBooksBug(f"FreshBooks' {kind} list answer had no {LIST_KEYS[kind]!r} list")
        try:
            return ListPage(items=[i for i in items if isinstance(i, dict)], page=int(result.get("page") or page),
                            pages=int(result.get("pages") or 1), total=int(result.get("total") or len(items)))
        except (TypeError, ValueError) as exc:
            raise FreshBooksBug(f"FreshBooks' {kind} list answer had unreadable paging") from exc

    def invoice_email(self, invoice_id: str, *, recipients: list[str], subject: str, body: str) -> dict:
        """Email the invoice to `recipients` again: an update with action_email, which is also how a reminder
        is sent through the API (FreshBooks has no separate reminder call). Returns the invoice as answered."""
        path, key = RESOURCES["invoice"]
        response = self._request("PUT", f"{self._accounting_base()}/{path}/{invoice_id}", json={"invoice": {
            "action_email": True, "email_recipients": recipients, "email_include_pdf": False,
            "invoice_customized_email": {"subject": subject, "body": body}}})
        result = ((_json(response).get("response") or {}).get("result") or {}).get(key)
        return result if isinstance(result, dict) else {}

    # Identity: who the connection signs in as, and its businesses
    def identity_check(self) -> Identity:
        return _identity_parse(self._request("GET", identity_url()))

    # Callbacks
    def callback_create(self, *, event: str, uri: str) -> dict:
        response = self._request("POST", self._callbacks_base(), json={"callback": {"event": event, "uri": uri}})
        callback = (((_json(response).get("response") or {}).get("result") or {}).get("callback"))
        if not isinstance(callback, dict) or callback.get("callbackid") in (None, ""):
            raise FreshBooksBug("FreshBooks' callback answer had no callbackid")
        return callback

    def callback_verify(self, *, callback_id: str, verifier: str) -> None:
        self._request("PUT", f"{self._callbacks_base()}/{callback_id}", json={"callback": {"verifier": verifier}})

    def callback_resend_verification(self, *, callback_id: str) -> None:
        self._request("PUT", f"{self._callbacks_base()}/{callback_id}", json={"callback": {"resend": True}})

    def callback_delete(self, *, callback_id: str) -> None:
        self._request("DELETE", f"{self._callbacks_base()}/{callback_id}")

    # Internals
    def _accounting_base(self) -> str:
        return f"{settings.FRESHBOOKS_API_URL}/accounting/account/{self.connection.account_id}"

    def _callbacks_base(self) -> str:
        return f"{settings.FRESHBOOKS_API_URL}/events/account/{self.connection.account_id}/events/callbacks"

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        if not self.connection.is_active:
            raise AuthorizationLost("The FreshBooks connection needs reconnecting")
        token = self.access_token()
        response = _send(method, url, token=token, **kwargs)
        if response.status_code == 401:
            token = self.access_token(refused=token)
            response = _send(method, url, token=token, **kwargs)
            if response.status_code == 401:
                self._mark_needs_reauth("FreshBooks refused a freshly refreshed access token")
                raise AuthorizationLost(_error_text(response), status_code=401)
        _raise_for(response)
        return response

    def access_token(self, *, refused: str | None = None) -> str:
        """A usable access token: the stored one, or a new one when it is about to expire or `refused`."""
        if refused is None and not _expiring(self.connection):
            return self.connection.access_token
        stale = refused or self.connection.access_token
        lost: AuthorizationLost | None = None
        with transaction.atomic():
            locked = FreshBooksConnection.objects.select_for_update().get(pk=self.connection.pk)
            if locked.status != FreshBooksConnection.Status.ACTIVE:
                self.connection = locked
                raise AuthorizationLost("The FreshBooks connection needs reconnecting")
            if locked.access_token != stale and not _expiring(locked):
                self.connection = locked  # another worker refreshed while we waited for the lock
                return locked.access_token
            try:
                grant = oauth_refresh(refresh_token=locked.refresh_token, redirect_uri=redirect_uri())
            except AuthorizationLost as exc:
                lost = exc
            else:
                locked.access_token = grant.access_token
                locked.refresh_token = grant.refresh_token
                locked.expires_at = grant.expires_at
                locked.save(update_fields=["access_token", "refresh_token", "expires_at", "updated_at"])
                self.connection = locked
                logger.info("freshbooks.token_refreshed", extra={"tenant_id": locked.tenant_id,
                                                                 "connection_id": locked.pk})
                return grant.access_token
        self._mark_needs_reauth(f"FreshBooks refused to renew access ({lost.message})")
        raise lost

    def _mark_needs_reauth(self, reason: str) -> None:
        self.connection = connection_mark_needs_reauth(connection=self.connection, reason=reason)


__all__ = [
    "FreshBooksClient", "FreshBooksError", "Identity", "Business", "TokenGrant", "authorize_url",
    "identity_fetch", "oauth_exchange_code", "oauth_refresh", "oauth_revoke", "redirect_uri",
]
