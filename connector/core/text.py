"""Characters no stored text may hold, and the one check every door uses for them.

PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate (which JSON's "\\ud800" escapes produce)
cannot be encoded as UTF-8: either would fail deep inside a query as a server error. Every input path
refuses them up front with a 400 instead: DRF's CharField (its own NUL and surrogate validators) for API
bodies, connector.core.middleware for query strings and form bodies (before any form or view sees them),
the Slack events view for its JSON payload, and the FreshBooks webhook intake for its form fields.
"""

import json
import re

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
FORBIDDEN_MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def has_forbidden_chars(value: str) -> bool:
    return bool(_FORBIDDEN.search(value))


def any_forbidden_chars(value) -> bool:
    """True if a string anywhere in a parsed JSON value (keys included) has a forbidden character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_loads_bounded(body: bytes | str):
    """json.loads that turns nesting too deep for the parser (a RecursionError) into a ValueError, like any
    other malformed body."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
