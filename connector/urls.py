"""URL map. Contract URLs (ARCHITECTURE §5): /webhooks/freshbooks/<token>/, /slack/events/, /healthz, /api/v1/."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from audit import api as audit_api
from connector import health
from connector.core.api import api_not_found
from connector.dashboard import views as dashboard
from connector.pipeline import intake
from tenants import api_views as tenant_api

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("me/", tenant_api.MeView.as_view(), name="api-me"),
    path("api-tokens/", tenant_api.ApiTokenListView.as_view(), name="api-token-list"),
    path("api-tokens/<int:pk>/", tenant_api.ApiTokenDetailView.as_view(), name="api-token-detail"),
    path("deliveries/", audit_api.DeliveryListView.as_view(), name="api-delivery-list"),
    path("deliveries/export.csv", audit_api.DeliveryExportView.as_view(), name="api-delivery-export"),
    path("exports/<int:pk>/", audit_api.ExportJobDetailView.as_view(), name="api-export-detail"),
    path("exports/<int:pk>/download/", audit_api.ExportJobDownloadView.as_view(), name="api-export-download"),
    path("ignored-events/", audit_api.IgnoredEventListView.as_view(), name="api-ignored-event-list"),
    path("deliveries/<int:pk>/", audit_api.DeliveryDetailView.as_view(), name="api-delivery-detail"),
    path("deliveries/<int:pk>/replay/", audit_api.DeliveryReplayView.as_view(), name="api-delivery-replay"),
    path("rules/", include("routing.api_urls")),
    re_path(r"", api_not_found),  # anything else under /api/v1/ (such as a non-numeric id): JSON 404
]

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/deliveries/", dashboard.dashboard_deliveries, name="dashboard_deliveries"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("accounts/", include("tenants.urls")),
    path("rules/", include("routing.urls")),
    path("activity/", include("audit.urls")),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),
    path("webhooks/freshbooks/<str:token>/", intake.webhook_intake, name="freshbooks_webhook"),
    path("slack/", include("connector.slack.urls")),
    path("", include("connector.freshbooks.urls")),
]

handler400 = "connector.core.api.bad_request"
handler500 = "connector.core.api.server_error"
