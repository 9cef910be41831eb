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


def signature_compute(fields: dict[str, str], verifier: str) -> str:
    # Exactly the documented algorithm: default separators ", " / ": ", ensure_ascii, no key sorting.
    payload = json.dumps({k: str(v) for k, v in fields.items()})
    digest = hmac.new(verifier.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(fields: dict[str, str], header: str | None, verifier: str) -> bool:
    if not header or not verifier:
        return False
    return hmac.compare_digest(signature_compute(fields, verifier).encode(), header.strip().encode())


def signature_find_verifier(fields: dict[str, str], header: str | None, verifiers: Iterable[str]) -> bool:
    """True when one of the verifiers (tried in the given order) signs these fields."""
    if not header:
        return False
    return any(signature_matches(fields, header, v) for v in verifiers)
