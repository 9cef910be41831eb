"""URL map. Contract URLs: /webhooks/freshbooks/<token>/, /slack/events/, /healthz, /api/v1/."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView

from connector import health
from connector.core.api import api_not_found
from connector.core.mailbox import mailbox_page
from connector.core.schema import SchemaView
from connector.dashboard import views as dashboard
from connector.pipeline import intake, metrics, slack_actions

# Each app's API: views in <app>/api.py, URLs in <app>/api_urls.py.
api_v1 = [
    path("schema/", SchemaView.as_view(), name="api-schema"),
    # The split view serves its initialising script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", title="ml-connector API",
                                                     template_name="api/docs.html"), name="api-docs"),
    path("", include("tenants.api_urls")),
    path("", include("audit.api_urls")),
    path("rules/", include("routing.api_urls")),
    path("digests/", include("digests.api_urls")),
    re_path(r"", api_not_found),  # anything else under /api/v1/ (such as a non-numeric id): JSON 404
]

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/deliveries/", dashboard.dashboard_deliveries, name="dashboard_deliveries"),
    path("dashboard/check-now/", dashboard.check_now, name="check_now"),
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("sandbox/mailbox/", mailbox_page, name="sandbox_mailbox"),  # 404 unless SANDBOX_MAILBOX (DEBUG only)
    path("accounts/", include("tenants.urls")),
    path("rules/digests/", include("digests.urls")),
    path("rules/", include("routing.urls")),
    path("activity/", include("audit.urls")),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),
    path("webhooks/freshbooks/<str:token>/", intake.webhook_intake, name="freshbooks_webhook"),
    # Contract paths too: signed Slack requests whose answers need the pipeline, before the provider's own.
    path("slack/interactions/", slack_actions.slack_interactions, name="slack_interactions"),
    path("slack/commands/", slack_actions.slack_commands, name="slack_commands"),
    path("slack/", include("connector.slack.urls")),
    path("", include("connector.freshbooks.urls")),
]

handler400 = "connector.core.api.bad_request"
handler500 = "connector.core.api.server_error"
