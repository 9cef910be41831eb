"""URLs for bench/intake.py only: the real URL map plus a bare Django view on the same stack."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connector.urls import urlpatterns as connector_urlpatterns


@csrf_exempt
@require_POST
def bare(request):
    request.body  # noqa: B018 - read the body like the intake does, nothing else
    return HttpResponse(b'{"status": "ok"}', content_type="application/json")


urlpatterns = [path("bench/bare/", bare), *connector_urlpatterns]
