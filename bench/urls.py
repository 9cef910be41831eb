"""URLs for bench/intake.py only: the real URL map plus a bare Django view on the same stack."""

import os

import redis
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.models import InboundEvent
from connector.freshbooks.signature import form_fields, signature_matches
from connector.urls import urlpatterns as connector_urlpatterns

BARE_QUEUE = "bench:bare"
_redis = redis.Redis.from_url(settings.REDIS_URL)


@csrf_exempt
@require_POST
def bare(request):
    """The least a webhook intake can do, as a plain view behind the project's middleware: verify the
    same HMAC with a key it already knows, insert the same row, push its id to Redis."""
    body = request.body
    fields = form_fields(body)
    if not signature_matches(fields, request.headers.get("X-FreshBooks-Hmac-SHA256"), os.environ["BENCH_VERIFIER"]):
        return HttpResponse(status=401)
    event = InboundEvent.objects.create(
        tenant_id=int(os.environ["BENCH_TENANT_ID"]), name=fields["name"], object_id=fields["object_id"],
        account_id=fields.get("account_id", ""), business_id=fields.get("business_id", ""),
        raw_body=body.decode("utf-8"), dedupe_key=f"{fields['name']}:{fields['object_id']}")
    _redis.rpush(BARE_QUEUE, event.pk)
    return JsonResponse({"status": "received", "id": event.pk})


urlpatterns = [path("bench/bare/", bare), *connector_urlpatterns]
