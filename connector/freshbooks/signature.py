"""FreshBooks webhook signatures: base64 HMAC-SHA256, keyed by the callback's verifier,
over Python's default `json.dumps` of the form fields in arrival order (not over the raw body)."""

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from urllib.parse import parse_qsl

MAX_FIELDS = 50  # FreshBooks sends six or seven


def form_fields(raw_body: bytes) -> dict[str, str]:
    """The form fields in arrival order (a repeated field keeps its last value, as QueryDict.dict() does).
    Raises UnicodeDecodeError when the body or a %-escape is not UTF-8, ValueError beyond MAX_FIELDS."""
    return dict(parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, errors="strict",
                          max_num_fields=MAX_FIELDS))


def _payload(fields: dict[str, str]) -> bytes:
    # Exactly the documented algorithm: default separators ", " / ": ", ensure_ascii, no key sorting.
    return json.dumps({k: str(v) for k, v in fields.items()}).encode("utf-8")


def _signature(payload: bytes, verifier: str) -> bytes:
    return base64.b64encode(hmac.new(verifier.encode("utf-8"), payload, hashlib.sha256).digest())


def signature_compute(fields: dict[str, str], verifier: str) -> str:
    return _signature(_payload(fields), verifier).decode("ascii")


def signature_matches(fields: dict[str, str], header: str | None, verifier: str) -> bool:
    return signature_find_verifier(fields, header, [verifier])


def signature_find_verifier(fields: dict[str, str], header: str | None, verifiers: Iterable[str]) -> bool:
    """True when one of the verifiers (tried in the given order) signs these fields. The fields are
    serialised once, however many verifiers are tried."""
    if not header:
        return False
    expected, payload = header.strip().encode(), None
    for verifier in verifiers:
        if not verifier:
            continue
        payload = payload if payload is not None else _payload(fields)
        if hmac.compare_digest(_signature(payload, verifier), expected):
            return True
    return False
