"""OpenAPI post-processing: every operation documents the error answers it can give, in the one error
shape {"message", "extra"} (connector.core.api), and input text says it may not hold NUL, so the schema
matches what clients actually receive; and the view that serves the schema (SchemaView)."""

import threading

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView

ERROR_SCHEMA = {
    "type": "object",
    "required": ["message", "extra"],
    "properties": {
        "message": {"type": "string"},
        "extra": {"type": "object", "additionalProperties": True,
                  "description": 'Validation errors: {"fields": {field: [message, ...]}}; throttled requests: '
                                 '{"retry_after": seconds}.'},
    },
}

# Every operation can answer these: bad query parameters or text (400), no or a wrong token (401), a role
# that may not (403), nothing of this tenant there (404), a method not allowed (405), a limit reached (429).
COMMON_ERRORS = {
    "400": "Invalid input (the message says what; `extra.fields` which fields).",
    "401": "No credentials, or an invalid or revoked API token.",
    "403": "Your role in this business does not allow that.",
    "404": "Not found, or not this tenant's.",
    "405": "Method not allowed.",
    "406": "The Accept header asks for a format this endpoint does not produce.",
    "429": "Too many requests: wait the seconds in Retry-After (also `extra.retry_after`).",
}
BODY_ERRORS = {"415": "The request body is not JSON (or form data)."}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


# Text may hold no NUL (and, in JSON, no lone surrogate): connector.core.text refuses them with a 400.
NO_NUL_PATTERN = r"^[^\x00]*$"


def _refuse_nul(schema) -> None:
    """Adds NO_NUL_PATTERN to every free-text string schema inside `schema`."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if (node.get("type") == "string" and not node.get("readOnly")
                and not {"pattern", "enum", "format"} & node.keys()):
            node["pattern"] = NO_NUL_PATTERN
        stack.extend(v for v in node.values() if isinstance(v, dict | list))


def document_errors(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for name, schema in components.items():
        if name != "Error" and not name.endswith("Output") and not name.startswith("Paginated"):
            _refuse_nul(schema)
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            for parameter in operation.get("parameters", []):
                _refuse_nul(parameter.get("schema"))
            responses = operation.setdefault("responses", {})
            errors = {**COMMON_ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for code, description in errors.items():
                response = responses.setdefault(code, {"description": description})
                response.setdefault("description", description)
                response["content"] = {"application/json": {"schema": ref}}
                if code == "429":
                    response["headers"] = RETRY_AFTER
    return result


# drf-spectacular loads each extension's target class on first use, into a class attribute: a second
# thread generating the schema meanwhile can read the attribute half way (None where it expects the class's
# dotted path) and answer 500. Generating one schema at a time per process avoids that; it is rarely asked for.
_GENERATING = threading.Lock()


class SchemaView(SpectacularAPIView):
    @extend_schema(**SCHEMA_KWARGS)  # as the view it extends: the schema's own endpoint is documented as before
    def get(self, request, *args, **kwargs):
        with _GENERATING:
            return super().get(request, *args, **kwargs)
