"""URL map. Contract URLs (ARCHITECTURE §5): /webhooks/freshbooks/<token>/, /slack/events/, /healthz, /api/v1/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from connector import dashboard, health
from tenants import api_views as tenant_api

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("me/", tenant_api.MeView.as_view(), name="api-me"),
    path("api-tokens/", tenant_api.ApiTokenListView.as_view(), name="api-token-list"),
    path("api-tokens/<int:pk>/", tenant_api.ApiTokenDetailView.as_view(), name="api-token-detail"),
    path("rules/", include("routing.api_urls")),
]

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("accounts/", include("tenants.urls")),
    path("rules/", include("routing.urls")),
    path("api/v1/", include(api_v1)),
    path("slack/", include("connector.slack.urls")),
    path("", include("connector.freshbooks.urls")),
]
