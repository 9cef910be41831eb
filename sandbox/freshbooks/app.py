"""The FreshBooks stand-in's HTTP surface: OAuth, identity, accounting, Events API, control and pages.

Serves both FreshBooks hosts on one port: FRESHBOOKS_AUTH_URL (the authorize page) and FRESHBOOKS_API_URL
(everything else)."""

import fnmatch
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from sandbox.freshbooks.books import (
    DEFAULT_SCOPES,
    INVOICE_WRITE_SCOPE,
    PER_PAGE_DEFAULT,
    RESOURCES,
    RESOURCES_BY_KEY,
    Books,
    BooksError,
    initial_state,
)
from sandbox.freshbooks.pages import authorize_page, home_page, message_page
from sandbox.freshbooks.webhooks import EventsApiError, Webhooks
from sandbox.http import App, HttpError, Request, Response, add_query
from sandbox.store import Store

ACCESS_TOKEN_SECONDS = 43200  # "The Access Token expires after 12 hours"
CODE_SECONDS = 300  # "the authorization code expires in 5 minutes"
INVALID_TOKEN_MESSAGE = "invalid_token: The request token failed to authenticate or validate."
INVALID_GRANT_DESCRIPTION = ("The provided authorization grant is invalid, expired, revoked, does not match the "
                             "redirection URI used in the authorization request, or was issued to another client.")
# Paths fault injection never touches: the stand-in's own controls and pages.
UNFAULTABLE_PREFIXES = ("/_control", "/favicon.ico")


@dataclass
class FreshBooksConfig:
    client_id: str = "sandbox-freshbooks-client-id"
    client_secret: str = "sandbox-freshbooks-client-secret"
    app_name: str = "ml-connector"
    state_file: str | None = None
    seed: str = "sandbox"
    delivery_workers: int = 1


class FreshBooksApp(App):
    name = "freshbooks"

    def __init__(self, config: FreshBooksConfig | None = None):
        super().__init__()
        self.config = config or FreshBooksConfig()
        self.store = Store(lambda: initial_state(self.config.seed), self.config.state_file,
                           f"freshbooks:{self.config.seed}")
        self.books = Books(self.store)
        self.webhooks = Webhooks(self.store, self.books, self.config.delivery_workers)
        self._routes()

    @property
    def data(self) -> dict:
        return self.store.data

    def start_background(self) -> None:
        self.store.start()
        self.webhooks.start()

    def stop_background(self) -> None:
        self.webhooks.stop()
        self.store.stop()

    # -- routing -------------------------------------------------------------------------------------

    def _routes(self) -> None:
        add = self.router.add
        add("/", ("GET",), self.home)
        add("/oauth/authorize", ("GET", "POST"), self.authorize)
        add("/oauth/authorize/", ("GET", "POST"), self.authorize)
        add("/auth/oauth/token", ("POST",), self.token)
        add("/auth/oauth/revoke", ("POST",), self.revoke)
        add("/auth/api/v1/users/me", ("GET",), self.me)
        for resource in RESOURCES:
            base = f"/accounting/account/{{account_id}}/{resource.path}"
            add(base, ("GET",), self._lister(resource.key))
            add(base + "/{object_id}", ("GET", "PUT") if resource.key == "invoices" else ("GET",),
                self._getter(resource.key))
        callbacks = "/events/account/{account_id}/events/callbacks"
        add(callbacks, ("GET", "POST"), self.callbacks)
        add(callbacks + "/{callback_id}", ("GET", "PUT", "DELETE"), self.callback)
        # control
        add("/_control/state", ("GET",), self.control_state)
        add("/_control/reset", ("POST",), self.control_reset)
        add("/_control/businesses", ("POST",), self.control_businesses)
        add("/_control/settings", ("POST",), self.control_settings)
        add("/_control/tokens", ("POST",), self.control_token_mint)
        add("/_control/tokens/expire", ("POST",), self.control_token_expire)
        add("/_control/invoices", ("POST",), self.control_invoice_create)
        add("/_control/invoices/{object_id}/send", ("POST",), self.control_invoice_send)
        add("/_control/invoices/{object_id}/pay", ("POST",), self.control_invoice_pay)
        add("/_control/payments", ("POST",), self.control_payment_create)
        add("/_control/bills", ("POST",), self.control_bill_create)
        add("/_control/bills/{object_id}/pay", ("POST",), self.control_bill_pay)
        add("/_control/expenses", ("POST",), self.control_expense_create)
        add("/_control/clients", ("POST",), self.control_client_create)
        add("/_control/{kind}/{object_id}/update", ("POST",), self.control_update)
        add("/_control/{kind}/{object_id}/delete", ("POST",), self.control_delete)
        add("/_control/callbacks", ("GET",), self.control_callbacks)
        add("/_control/events", ("GET",), self.control_events)
        add("/_control/events/{event_id}/redeliver", ("POST",), self.control_redeliver_event)
        add("/_control/webhooks", ("GET",), self.control_webhooks)
        add("/_control/webhooks/dropped/deliver", ("POST",), self.control_deliver_dropped)
        add("/_control/webhooks/{delivery_id}/redeliver", ("POST",), self.control_redeliver)
        add("/_control/delivery", ("GET", "POST"), self.control_delivery)
        add("/_control/faults", ("GET", "POST", "DELETE"), self.control_faults)
        add("/_control/emails", ("GET",), self.control_emails)

    # -- fault injection -----------------------------------------------------------------------------

    def before(self, request: Request) -> Response | None:
        if request.path == "/" or request.path.startswith(UNFAULTABLE_PREFIXES):
            return None
        with self.store.lock:
            for fault in list(self.data["faults"]):
                if not fnmatch.fnmatchcase(request.path, fault["path"]):
                    continue
                if fault["method"] not in ("*", request.method):
                    continue
                if fault["remaining"] is not None:
                    fault["remaining"] -= 1
                    if fault["remaining"] <= 0:
                        self.data["faults"].remove(fault)
                fault["hits"] = fault.get("hits", 0) + 1
                self.store.changed()
                request.delay_response = float(fault.get("delay") or 0)
                if fault.get("status"):
                    return self._fault_response(request, fault)
                return None
        return None

    def _fault_response(self, request: Request, fault: dict) -> Response:
        status = int(fault["status"])
        headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") else {}
        if fault.get("body") is not None:
            return Response(fault["body"], status, headers, fault.get("content_type") or "text/html; charset=utf-8")
        path = request.path
        if status == 401:
            if path.startswith("/auth/oauth/"):
                body = {"error": "invalid_grant", "error_description": INVALID_GRANT_DESCRIPTION}
            elif path.startswith("/auth/"):
                body = {"error": "unauthenticated", "error_description": "This action requires authentication."}
            else:
                body = {"errno": 401, "message": INVALID_TOKEN_MESSAGE}
                headers["WWW-Authenticate"] = 'Bearer realm="FreshBooks", error="invalid_token"'
        elif status == 404 and path.startswith("/accounting/"):
            body = BooksError(404, "The requested resource was not found.", 1012).body()
        elif status == 404:
            body = {"errno": 404, "message": "Requested resource could not be found."}
        elif status == 429:
            body = {"errno": 429, "message": "Too Many Requests"}
        elif status >= 500:
            body = {"errno": status, "message": "Internal Server Error" if status == 500 else "Service Unavailable"}
        else:
            body = {"errno": status, "message": f"Injected error {status}"}
        return Response.json(body, status, headers)

    # -- OAuth ---------------------------------------------------------------------------------------

    def _client_ok(self, client_id, client_secret=None) -> bool:
        if self.config.client_id and not hmac.compare_digest(str(client_id or ""), self.config.client_id):
            return False
        return client_secret is None or not self.config.client_secret or \
            hmac.compare_digest(str(client_secret or ""), self.config.client_secret)

    def authorize(self, request: Request) -> Response:
        params = request.params()
        redirect_uri = str(params.get("redirect_uri") or "")
        if not self._client_ok(params.get("client_id")):
            return Response.html(message_page("Unknown application",
                                              "The client_id in this link does not belong to any application."), 400)
        if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
            return Response.html(message_page("Invalid redirect_uri",
                                              "This link has no valid redirect_uri, so there is nowhere to return to."),
                                 400)
        state = params.get("state")
        if params.get("response_type", "code") != "code":
            return Response.redirect(add_query(redirect_uri, {"error": "unsupported_response_type",
                                                              "state": state}))
        requested = str(params.get("scope") or "").split()
        unknown = [s for s in requested if s not in DEFAULT_SCOPES and not s.startswith("user:")]
        if unknown:
            return Response.redirect(add_query(redirect_uri, {"error": "invalid_scope", "state": state}))
        if request.method == "GET":
            return Response.html(authorize_page(self.config.app_name, params, self.data["identity"],
                                                self.books.active_businesses(), requested or DEFAULT_SCOPES))
        if params.get("decision") != "allow":
            return Response.redirect(add_query(redirect_uri, {"error": "access_denied", "state": state}))
        scope = sorted(set(requested or DEFAULT_SCOPES) | {"user:profile:read"})
        with self.store.lock:
            code = self.store.secret("code", 40)
            self.data["codes"][code] = {"client_id": params.get("client_id"), "redirect_uri": redirect_uri,
                                        "scope": " ".join(scope), "expires_at": time.time() + CODE_SECONDS,
                                        "used": False}
            self.store.changed()
        return Response.redirect(add_query(redirect_uri, {"code": code, "state": state}))

    def _issue_tokens(self, client_id: str, scope: str) -> dict:
        with self.store.lock:
            access, refresh = self.store.secret("access", 64), self.store.secret("refresh", 64)
            created = int(time.time())
            self.data["tokens"][access] = {"client_id": client_id, "scope": scope, "created_at": created,
                                           "expires_at": created + ACCESS_TOKEN_SECONDS, "revoked": False,
                                           "refresh_token": refresh}
            self.data["refresh_tokens"][refresh] = {"client_id": client_id, "scope": scope, "used": False,
                                                    "revoked": False, "access_token": access}
            self.store.changed()
        return {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "refresh_token": refresh, "scope": scope, "created_at": created}

    @staticmethod
    def _oauth_error(error: str, status: int, description: str = INVALID_GRANT_DESCRIPTION) -> Response:
        return Response.json({"error": error, "error_description": description}, status)

    def token(self, request: Request) -> Response:
        params = request.params()
        basic = request.basic_auth()
        client_id = params.get("client_id") or (basic[0] if basic else None)
        client_secret = params.get("client_secret") or (basic[1] if basic else None)
        if not self._client_ok(client_id, client_secret or ""):
            return self._oauth_error("invalid_client", 401, "Client authentication failed due to unknown client, "
                                     "no client authentication included, or unsupported authentication method.")
        grant = params.get("grant_type")
        with self.store.lock:
            if grant == "authorization_code":
                code = self.data["codes"].get(str(params.get("code") or ""))
                if code is None or code["used"] or code["expires_at"] < time.time() or \
                        code["client_id"] != client_id or \
                        (params.get("redirect_uri") and params["redirect_uri"] != code["redirect_uri"]):
                    return self._oauth_error("invalid_grant", 401)
                code["used"] = True
                self.store.changed()
                return Response.json(self._issue_tokens(client_id, code["scope"]))
            if grant == "refresh_token":
                record = self.data["refresh_tokens"].get(str(params.get("refresh_token") or ""))
                if record is None or record["used"] or record["revoked"] or record["client_id"] != client_id:
                    return self._oauth_error("invalid_grant", 401)
                record["used"] = True  # single use: "can only be used once"
                self.store.changed()
                return Response.json(self._issue_tokens(client_id, record["scope"]))
        return self._oauth_error("unsupported_grant_type", 400,
                                 "The authorization grant type is not supported by the authorization server.")

    def revoke(self, request: Request) -> Response:
        params = request.params()
        if not self._client_ok(params.get("client_id"), params.get("client_secret") or ""):
            return self._oauth_error("invalid_client", 401, "Client authentication failed.")
        token = str(params.get("token") or "")
        with self.store.lock:
            access = self.data["tokens"].get(token)
            refresh = self.data["refresh_tokens"].get(token)
            if refresh is not None:
                refresh["revoked"] = True
                access = self.data["tokens"].get(refresh["access_token"])
            if access is not None:
                access["revoked"] = True
                if access["refresh_token"] in self.data["refresh_tokens"]:
                    self.data["refresh_tokens"][access["refresh_token"]]["revoked"] = True
            self.store.changed()
        # RFC 7009: the answer is 200 whether or not the token was known.
        return Response.json({})

    def _token(self, request: Request, shape: str = "accounting") -> dict:
        token = request.bearer_token()
        record = self.data["tokens"].get(token or "")
        if record is None or record["revoked"] or record["expires_at"] < time.time():
            if shape == "identity":
                raise HttpError(Response.json({"error": "unauthenticated",
                                               "error_description": "This action requires authentication to "
                                               "continue."}, 401))
            raise HttpError(Response.json({"errno": 401, "message": INVALID_TOKEN_MESSAGE}, 401,
                                          {"WWW-Authenticate": 'Bearer realm="FreshBooks", error="invalid_token"'}))
        return record

    def me(self, request: Request) -> Response:
        self._token(request, shape="identity")
        with self.store.lock:
            return Response.json(self.books.identity_response())

    # -- accounting ----------------------------------------------------------------------------------

    def _check_scope(self, record: dict, scope: str) -> None:
        provided = record["scope"].split()
        if scope not in provided:
            raise HttpError(Response.json({"message": f"Access denied. Scopes provided: {' '.join(provided)}. "
                                                      f"Scopes needed: {scope}.",
                                           "response": {"errors": [{"errno": 1003, "field": "scope",
                                                                    "message": "Access denied", "object": "scope",
                                                                    "value": scope}]}}, 403))

    def _books_call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BooksError as error:
            raise HttpError(Response.json(error.body(), error.status)) from None

    def _lister(self, key: str):
        resource = RESOURCES_BY_KEY[key]

        def handler(request: Request) -> Response:
            record = self._token(request)
            self._check_scope(record, resource.scope)
            page = _int(request.query.get("page"), 1)
            per_page = _int(request.query.get("per_page"), PER_PAGE_DEFAULT)
            filters = {key: request.query[f"search[{key}]"] for key in ("vis_state", "updated_min", "updated_max")
                       if f"search[{key}]" in request.query}
            # FreshBooks' "in" filter on the status number, as the overdue check sends it.
            status_ids = [v for k, v in request.query_pairs if k == "search[statusids][]"]
            if status_ids:
                filters["statusids"] = status_ids
            result = self._books_call(self.books.list, request.path_params["account_id"], resource, page,
                                      per_page, _includes(request), filters)
            return Response.json({"response": {"result": result}})
        return handler

    def _getter(self, key: str):
        resource = RESOURCES_BY_KEY[key]

        def handler(request: Request) -> Response:
            record = self._token(request)
            if request.method == "PUT":
                return self._invoice_put(request, record)
            self._check_scope(record, resource.scope)
            obj = self._books_call(self.books.get, request.path_params["account_id"], resource,
                                   request.path_params["object_id"], _includes(request))
            return Response.json({"response": {"result": {resource.singular: obj}}})
        return handler

    def _invoice_put(self, request: Request, record: dict) -> Response:
        """Update an invoice; with action_email, FreshBooks emails it to the recipients."""
        self._check_scope(record, INVOICE_WRITE_SCOPE)
        try:
            body = request.json()
        except HttpError:
            body = None
        update = body.get("invoice") if isinstance(body, dict) else None
        if not isinstance(update, dict):
            raise HttpError(Response.json(BooksError(400, "The body needs an invoice object", 1001, "invoice",
                                                     "invoice", "").body(), 400))
        account_id, invoice_id = request.path_params["account_id"], request.path_params["object_id"]
        if update.get("action_email"):
            _, events = self._books_call(self.books.invoice_email, account_id, invoice_id, update)
        else:
            _, events = self._books_call(self.books.invoice_update, account_id, invoice_id, update)
        self.webhooks.emit(account_id, events)
        obj = self._books_call(self.books.get, account_id, RESOURCES_BY_KEY["invoices"], invoice_id, [])
        return Response.json({"response": {"result": {"invoice": obj}}})

    def control_emails(self, request: Request) -> Response:
        """Invoices FreshBooks emailed (PUT with action_email), oldest first."""
        with self.store.lock:
            return Response.json({"emails": list(self.data.get("emails", []))})

    # -- Events API ----------------------------------------------------------------------------------

    def _events_call(self, function, *args):
        try:
            return function(*args)
        except EventsApiError as error:
            raise HttpError(Response.json(error.body(), error.status)) from None
        except BooksError:
            raise HttpError(Response.json({"errno": 404, "message": "Requested resource could not be found."},
                                          404)) from None

    def _events_auth(self, request: Request) -> str:
        token = request.bearer_token()
        record = self.data["tokens"].get(token or "")
        if record is None or record["revoked"] or record["expires_at"] < time.time():
            raise HttpError(Response.json({"errno": 401, "message": INVALID_TOKEN_MESSAGE}, 401))
        account_id = request.path_params["account_id"]
        self._events_call(self.books.business, account_id)
        return account_id

    @staticmethod
    def _callback_body(request: Request) -> dict:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("callback"), dict):
            raise HttpError(Response.json({"errno": 400, "message": "Expected a JSON body {\"callback\": {...}}."},
                                          400))
        return body["callback"]

    def callbacks(self, request: Request) -> Response:
        account_id = self._events_auth(request)
        if request.method == "POST":
            callback = self._events_call(self.webhooks.callback_create, account_id, self._callback_body(request))
            return Response.json({"response": {"result": {"callback": callback}}})
        result = self._events_call(self.webhooks.callback_list, account_id, request.query.get("search[event]"),
                                   _int(request.query.get("page"), 1),
                                   _int(request.query.get("per_page"), PER_PAGE_DEFAULT))
        return Response.json({"response": {"result": result}})

    def callback(self, request: Request) -> Response:
        account_id = self._events_auth(request)
        callback_id = request.path_params["callback_id"]
        if request.method == "DELETE":
            self._events_call(self.webhooks.callback_delete, account_id, callback_id)
            return Response.empty(204)
        if request.method == "PUT":
            callback = self._events_call(self.webhooks.callback_update, account_id, callback_id,
                                         self._callback_body(request))
        else:
            callback = self._events_call(self.webhooks.callback_get, account_id, callback_id)
        return Response.json({"response": {"result": {"callback": callback}}})

    # -- control -------------------------------------------------------------------------------------

    def _control(self, request: Request, work) -> Response:
        """Run a control action; JSON for scripts, a redirect back to the page for its forms."""
        params = request.params()
        try:
            result = work(params)
            status = 200
        except BooksError as error:
            result, status = {"error": error.message, "errno": error.errno}, error.status
        except EventsApiError as error:
            result, status = {"error": error.message}, error.status
        except (ValueError, KeyError) as error:
            result, status = {"error": f"bad parameter: {error}"}, 400
        if request.from_browser_form():
            back = "/?" + urlencode({"account_id": params["account_id"]}) if params.get("account_id") else "/"
            return Response.redirect(str(params.get("next") or back), 303)
        return Response.json(result, status)

    def _account(self, params: dict) -> str:
        account_id = str(params.get("account_id") or self.books.default_account_id())
        self.books.business(account_id)
        return account_id

    def _changed(self, account_id: str, events: list, **objects) -> dict:
        fired = self.webhooks.emit(account_id, events)
        return {**objects, "events": fired}

    def control_state(self, request: Request) -> Response:
        with self.store.lock:
            accounts = {a: {k: len(v) for k, v in account.items() if isinstance(v, dict)}
                        for a, account in self.data["accounts"].items()}
            return Response.json({
                "client_id": self.config.client_id,
                "identity_id": self.data["identity"]["identity_id"],
                "businesses": [{k: b[k] for k in ("id", "account_id", "name")} for b in self.books.active_businesses()],
                "accounts": accounts, "settings": self.data["settings"], "delivery": self.data["delivery"],
                "callbacks": [self.webhooks.public_callback(c) | {"account_id": c["account_id"]}
                              for c in self.data["callbacks"].values()],
                "faults": self.data["faults"],
                "counts": {"events": len(self.data["events"]), "webhooks": len(self.data["deliveries"])},
            })

    def control_reset(self, request: Request) -> Response:
        def work(params):
            self.webhooks.clear()
            if params.get("seed"):  # another seed: account ids and tokens no earlier account had
                self.config.seed = str(params["seed"])
                self.store.seed = f"freshbooks:{self.config.seed}"
            self.store.reset()
            self.books.set_business_count(1)
            return {"reset": True}
        return self._control(request, work)

    def control_businesses(self, request: Request) -> Response:
        def work(params):
            businesses = self.books.set_business_count(int(params.get("count") or 1))
            return {"businesses": [{k: b[k] for k in ("id", "account_id", "name")} for b in businesses]}
        return self._control(request, work)

    def control_settings(self, request: Request) -> Response:
        def work(params):
            with self.store.lock:
                settings = self.data["settings"]
                if params.get("deleted_objects") not in (None, ""):
                    if params["deleted_objects"] not in ("soft", "404"):
                        raise ValueError("deleted_objects must be soft or 404")
                    settings["deleted_objects"] = params["deleted_objects"]
                if "resend_rotates_verifier" in params:
                    settings["resend_rotates_verifier"] = str(params["resend_rotates_verifier"]).lower() in (
                        "1", "true", "yes", "on")
                if params.get("verify_delay") not in (None, ""):
                    settings["verify_delay"] = max(0.0, float(params["verify_delay"]))
                self.store.changed()
                return dict(settings)
        return self._control(request, work)

    def control_token_mint(self, request: Request) -> Response:
        """Issue a token pair without the browser dance (operator commands, e2e setup)."""
        def work(params):
            scope = params.get("scope") or " ".join(DEFAULT_SCOPES)
            tokens = self._issue_tokens(self.config.client_id, scope)
            business = self.books.active_businesses()[0]
            return tokens | {"account_id": business["account_id"], "business_id": business["id"]}
        return self._control(request, work)

    def control_token_expire(self, request: Request) -> Response:
        def work(params):
            with self.store.lock:
                wanted = params.get("access_token")
                expired = 0
                for token, record in self.data["tokens"].items():
                    if not wanted or token == wanted:
                        record["expires_at"] = time.time() - 1
                        expired += 1
                self.store.changed()
                return {"expired": expired}
        return self._control(request, work)

    def control_invoice_create(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            invoice, events = self.books.invoice_create(account_id, params)
            if str(params.get("send") or "").lower() in ("1", "true", "yes", "on"):
                invoice, more = self.books.invoice_send(account_id, invoice["id"])
                events += more
            return self._changed(account_id, events, invoice=_public(invoice))
        return self._control(request, work)

    def control_invoice_send(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            invoice, events = self.books.invoice_send(account_id, request.path_params["object_id"])
            return self._changed(account_id, events, invoice=_public(invoice))
        return self._control(request, work)

    def control_invoice_pay(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            payment, invoice, events = self.books.invoice_pay(account_id, request.path_params["object_id"], params)
            return self._changed(account_id, events, payment=payment, invoice=_public(invoice))
        return self._control(request, work)

    def control_payment_create(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            payment, invoice, events = self.books.payment_create(account_id, params)
            return self._changed(account_id, events, payment=payment, invoice=_public(invoice))
        return self._control(request, work)

    def control_bill_create(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            bill, events = self.books.bill_create(account_id, params)
            return self._changed(account_id, events, bill=bill)
        return self._control(request, work)

    def control_bill_pay(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            payment, bill, events = self.books.bill_pay(account_id, request.path_params["object_id"], params)
            return self._changed(account_id, events, bill_payment=payment, bill=bill)
        return self._control(request, work)

    def control_expense_create(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            expense, events = self.books.expense_create(account_id, params)
            return self._changed(account_id, events, expense=expense)
        return self._control(request, work)

    def control_client_create(self, request: Request) -> Response:
        def work(params):
            account_id = self._account(params)
            client, events = self.books.client_create(account_id, params)
            return self._changed(account_id, events, client=client)
        return self._control(request, work)

    def control_update(self, request: Request) -> Response:
        updaters = {"invoices": self.books.invoice_update, "payments": self.books.payment_update,
                    "bills": self.books.bill_update, "expenses": self.books.expense_update,
                    "clients": self.books.client_update}
        kind = request.path_params["kind"]

        def work(params):
            if kind not in updaters:
                raise BooksError(404, f"Nothing to update called {kind}; use one of {', '.join(updaters)}", 1012)
            account_id = self._account(params)
            obj, events = updaters[kind](account_id, request.path_params["object_id"], params)
            return self._changed(account_id, events, **{RESOURCES_BY_KEY[kind].singular: _public(obj)})
        return self._control(request, work)

    def control_delete(self, request: Request) -> Response:
        kind = request.path_params["kind"]

        def work(params):
            if kind not in ("invoices", "payments", "bills", "expenses", "clients", "bill_vendors"):
                raise BooksError(404, f"Nothing to delete called {kind}", 1012)
            account_id = self._account(params)
            obj, events = self.books.delete(account_id, kind, request.path_params["object_id"])
            return self._changed(account_id, events, **{RESOURCES_BY_KEY[kind].singular: _public(obj)})
        return self._control(request, work)

    def control_callbacks(self, request: Request) -> Response:
        with self.store.lock:
            callbacks = [self.webhooks.public_callback(c) | {"account_id": c["account_id"]}
                         for c in self.data["callbacks"].values()]
        return Response.json({"callbacks": callbacks})

    def control_events(self, request: Request) -> Response:
        with self.store.lock:
            events = [{k: e[k] for k in ("id", "name", "object_id", "account_id", "created_at", "deliveries")}
                      for e in self.data["events"].values()]
        return Response.json({"events": _filtered(events, request)})

    def control_redeliver_event(self, request: Request) -> Response:
        return self._control(request, lambda params: {
            "deliveries": self.webhooks.redeliver_event(request.path_params["event_id"])})

    def control_webhooks(self, request: Request) -> Response:
        with self.store.lock:
            deliveries = [self.webhooks.public_delivery(d) for d in self.data["deliveries"].values()]
        return Response.json({"webhooks": _filtered(deliveries, request)})

    def control_redeliver(self, request: Request) -> Response:
        return self._control(request, lambda params: {
            "delivery": self.webhooks.redeliver(request.path_params["delivery_id"])})

    def control_deliver_dropped(self, request: Request) -> Response:
        """The webhooks dropped while `drop` was on, sent now: FreshBooks delivering them late."""
        return self._control(request, lambda params: {"deliveries": self.webhooks.deliver_dropped()})

    def control_delivery(self, request: Request) -> Response:
        if request.method == "GET":
            return Response.json(dict(self.data["delivery"]))
        return self._control(request, self.webhooks.configure)

    def control_faults(self, request: Request) -> Response:
        if request.method == "GET":
            return Response.json({"faults": self.data["faults"]})
        if request.method == "DELETE":
            with self.store.lock:
                self.data["faults"] = []
                self.store.changed()
            return Response.json({"faults": []})

        def work(params):
            status = params.get("status")
            delay = float(params.get("delay") or 0)
            if not status and not delay:
                raise ValueError("a fault needs a status, a delay, or both")
            count = params.get("count", 1)
            with self.store.lock:
                fault = {"id": self.store.next_id("fault"), "path": str(params.get("path") or "*"),
                         "method": str(params.get("method") or "*").upper(),
                         "status": int(status) if status else None, "delay": delay,
                         "remaining": None if count in (None, "", 0, "0") else int(count),
                         "retry_after": params.get("retry_after"), "body": params.get("body"),
                         "content_type": params.get("content_type"), "hits": 0}
                self.data["faults"].append(fault)
                self.store.changed()
                return {"fault": fault}
        return self._control(request, work)

    # -- pages ---------------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        with self.store.lock:
            account_id = request.query.get("account_id") or self.books.default_account_id()
            try:
                self.books.business(account_id)
            except BooksError:
                account_id = self.books.default_account_id()
            return Response.html(home_page(self, account_id))


def _int(value, default: int) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


def _includes(request: Request) -> list[str]:
    return [v for k, v in request.query_pairs if k in ("include[]", "include")]


def _public(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _filtered(items: list[dict], request: Request) -> list[dict]:
    """?name=invoice.create&object_id=..&since_id=..&limit=.. (newest last)."""
    query = request.query
    if query.get("name"):
        items = [i for i in items if i["name"] == query["name"]]
    if query.get("object_id"):
        items = [i for i in items if i["object_id"] == query["object_id"]]
    if query.get("since_id"):
        items = [i for i in items if int(i["id"]) > int(query["since_id"])]
    if query.get("limit"):
        items = items[-int(query["limit"]):]
    return items
