"""Refuses, with a 400, any query string or form body holding a character no stored text may hold (see
connector.core.text), before a view can pass it to a query and fail there with a 500."""

from django.http import HttpResponseBadRequest, JsonResponse

from connector.core.text import FORBIDDEN_MESSAGE, has_forbidden_chars

# Doors with their own, stricter handling of their raw bodies: the FreshBooks webhook intake and Slack's
# events, interactions and slash commands (each verifies a signature over the exact bytes first, then
# refuses these characters itself with a 400).
OWN_HANDLING_PREFIXES = ("/webhooks/", "/slack/events/", "/slack/interactions/", "/slack/commands/")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _forbidden(querydict) -> bool:
    return any(has_forbidden_chars(key) or any(has_forbidden_chars(v) for v in values)
               for key, values in querydict.lists())


class ForbiddenCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(OWN_HANDLING_PREFIXES):
            bad = _forbidden(request.GET) or has_forbidden_chars(request.path)
            if not bad and request.method == "POST" and request.content_type == FORM_CONTENT_TYPE:
                bad = _forbidden(request.POST)
            if bad:
                if request.path.startswith("/api/"):
                    return JsonResponse({"message": FORBIDDEN_MESSAGE, "extra": {}}, status=400)
                return HttpResponseBadRequest(FORBIDDEN_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
