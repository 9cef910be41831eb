"""Slack URLs, mounted at /slack/ (so the Events API is /slack/events/, a contract path)."""

from django.urls import path

from connector.slack import views

app_name = "slack"

urlpatterns = [
    path("", views.slack_home, name="home"),
    path("install/", views.slack_install, name="install"),
    path("oauth/callback/", views.slack_oauth_callback, name="oauth_callback"),
    path("test/", views.slack_connection_test_view, name="connection_test"),
    path("test-message/", views.slack_test_message, name="test_message"),
    path("channels/refresh/", views.slack_channels_refresh_view, name="channels_refresh"),
    path("uninstall/", views.slack_uninstall_view, name="uninstall"),
    path("events/", views.slack_events, name="events"),
]
