"""Shared HTTP plumbing for the sandbox stand-ins: request and response objects, a small router and a
threaded server that logs one line per request."""

import base64
import email.parser
import email.policy
import html
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Bodies bigger than this are refused: no provider call the app makes comes near it.
MAX_BODY_BYTES = 5 * 1024 * 1024
# Pending connections the kernel may queue; benchmarks open many connections at once.
LISTEN_BACKLOG = 512


class HttpError(Exception):
    """Raise anywhere in a handler to answer with `response`."""

    def __init__(self, response: "Response"):
        super().__init__(response.status)
        self.response = response


class Request:
    def __init__(self, method: str, target: str, headers, body: bytes, client: str = ""):
        parts = urlsplit(target)
        self.method = method.upper()
        self.path = parts.path or "/"
        self.query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        self.query = dict(self.query_pairs)
        self.headers = headers  # case-insensitive (email.message.Message) or a plain dict in tests
        self.body = body
        self.client = client
        self.path_params: dict[str, str] = {}
        self._form_pairs: list[tuple[str, str]] | None = None
        self._json_cache: object = None
        self._json_parsed = False
        self.delay_response = 0.0  # seconds to hold the answer back (set by fault injection)

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        if value is None and isinstance(self.headers, dict):
            lowered = {k.lower(): v for k, v in self.headers.items()}
            value = lowered.get(name.lower())
        return default if value is None else value

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def form_pairs(self) -> list[tuple[str, str]]:
        """Form fields in arrival order (urlencoded or multipart bodies); [] for other bodies."""
        if self._form_pairs is None:
            self._form_pairs = []
            if self.content_type == "application/x-www-form-urlencoded":
                self._form_pairs = parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            elif self.content_type == "multipart/form-data":
                self._form_pairs = _parse_multipart(self.header("Content-Type") or "", self.body)
        return self._form_pairs

    def form(self) -> dict[str, str]:
        return dict(self.form_pairs())

    def json(self) -> object:
        """The JSON body, or None when the body is not JSON. Invalid JSON answers 400."""
        if not self._json_parsed:
            self._json_parsed = True
            text = self.body.decode("utf-8", "replace").strip()
            looks_json = self.content_type == "application/json" or (
                not self.content_type and text[:1] in ("{", "["))
            if looks_json and text:
                try:
                    self._json_cache = json.loads(text)
                except ValueError:
                    raise HttpError(Response.json({"error": "invalid_json"}, status=400)) from None
        return self._json_cache

    def params(self) -> dict:
        """Query string, form fields and a JSON object body merged; the body wins."""
        merged: dict = dict(self.query)
        merged.update(self.form())
        body = self.json()
        if isinstance(body, dict):
            merged.update(body)
        return merged

    def bearer_token(self) -> str | None:
        auth = self.header("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    def basic_auth(self) -> tuple[str, str] | None:
        auth = self.header("Authorization") or ""
        if auth[:6].lower() != "basic ":
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            return None
        return user, password

    def from_browser_form(self) -> bool:
        """A plain HTML form post (the stand-ins' pages): answer with a redirect back, not JSON."""
        return self.content_type in ("application/x-www-form-urlencoded", "multipart/form-data") and \
            "text/html" in (self.header("Accept") or "")


def _parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    pairs = []
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            pairs.append((name, payload.decode("utf-8", "replace")))
    return pairs


class Response:
    def __init__(self, body: bytes | str = b"", status: int = 200, headers: dict | None = None,
                 content_type: str = "text/plain; charset=utf-8"):
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.status = status
        self.headers = {"Content-Type": content_type}
        self.headers.update(headers or {})
        # Seconds to wait after the handler finished, before answering (simulates a slow provider).
        self.delay_before_send = 0.0

    @classmethod
    def json(cls, data, status: int = 200, headers: dict | None = None) -> "Response":
        return cls(json.dumps(data), status, headers, "application/json; charset=utf-8")

    @classmethod
    def html(cls, text: str, status: int = 200, headers: dict | None = None) -> "Response":
        return cls(text, status, headers, "text/html; charset=utf-8")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> "Response":
        return cls(b"", status, {"Location": location})

    @classmethod
    def empty(cls, status: int = 204) -> "Response":
        return cls(b"", status)


def add_query(url: str, params: dict) -> str:
    """`url` with `params` appended to its query string (keeps what is already there)."""
    parts = urlsplit(url)
    extra = urlencode([(k, v) for k, v in params.items() if v is not None])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def escape(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


Handler = Callable[[Request], Response]


class Router:
    """Method + path pattern -> handler. `{name}` matches one segment, `{name:path}` the rest."""

    def __init__(self):
        self._routes: list[tuple[frozenset[str], re.Pattern, Handler]] = []

    def route(self, pattern: str, methods: tuple[str, ...] = ("GET",)):
        def decorator(handler: Handler) -> Handler:
            self.add(pattern, methods, handler)
            return handler
        return decorator

    def add(self, pattern: str, methods: tuple[str, ...], handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)(:path)?\}",
                       lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})", pattern)
        self._routes.append((frozenset(m.upper() for m in methods), re.compile(f"^{regex}$"), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = False
        for methods, regex, handler in self._routes:
            match = regex.match(path)
            if match:
                if method in methods or (method == "HEAD" and "GET" in methods):
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise HttpError(Response.json({"error": "method_not_allowed"}, status=405))
        raise HttpError(Response.json({"error": "not_found", "path": path}, status=404))


class App:
    """A stand-in: a router plus hooks. Subclasses add routes in __init__ and may override `before`."""

    name = "sandbox"

    def __init__(self):
        self.router = Router()
        self.log = logging.getLogger(f"sandbox.{self.name}")

    def before(self, request: Request) -> Response | None:
        """Runs before routing; a Response returned here is sent instead (fault injection)."""
        return None

    def handle(self, request: Request) -> Response:
        try:
            early = self.before(request)
            if early is not None:
                early.delay_before_send += request.delay_response
                return early
            handler, params = self.router.resolve(request.method, request.path)
            request.path_params = params
            response = handler(request)
        except HttpError as error:
            response = error.response
        except Exception:
            self.log.exception("unhandled error on %s %s", request.method, request.path)
            response = Response.json({"error": "internal_error"}, status=500)
        # `before` may ask for a slow answer without changing it (fault injection).
        response.delay_before_send += request.delay_response
        return response

    def start_background(self) -> None:
        """Start worker threads (delivery queues, state saver). Called by the server."""

    def stop_background(self) -> None:
        """Stop worker threads and flush state."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks reuse connections
    server: "SandboxServer"

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        app = self.server.app
        if body is None:
            response = Response.json({"error": "request_too_large"}, status=413)
            self.close_connection = True
        else:
            request = Request(self.command, self.path, self.headers, body, self.client_address[0])
            response = app.handle(request)
        if response.delay_before_send:
            time.sleep(response.delay_before_send)
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (for example after its timeout): nothing more to say to it.
            self.close_connection = True
        elapsed_ms = (time.monotonic() - started) * 1000
        # Path only: query strings may carry tokens.
        app.log.info("%s %s %d %.1fms", self.command, urlsplit(self.path).path, response.status, elapsed_ms)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        # One line per request is written by _dispatch; silence the default access log.
        pass


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        super().__init__((host, port), _RequestHandler)
        self._thread: threading.Thread | None = None

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        wildcard = host in ("0.0.0.0", "", "::")  # noqa: S104 - naming the wildcard, not binding to it
        return f"http://{'127.0.0.1' if wildcard else host}:{self.port}"

    def start(self) -> "SandboxServer":
        """Serve in a daemon thread (tests); `serve_forever()` directly for a process."""
        self.app.start_background()
        # A short poll interval makes stop() quick, which keeps test suites fast.
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.app.name}-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.app.stop_background()
