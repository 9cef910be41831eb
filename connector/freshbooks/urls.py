"""FreshBooks pages under /freshbooks/ (the webhook intake is the pipeline's: connector/urls.py)."""

from django.urls import path

from connector.freshbooks import views

app_name = "freshbooks"

urlpatterns = [
    path("freshbooks/", views.overview, name="overview"),
    path("freshbooks/connect/", views.connect, name="connect"),
    path("freshbooks/test/", views.connection_test_view, name="connection_test"),
    path("freshbooks/callback/", views.oauth_callback, name="oauth_callback"),
    path("freshbooks/choose-business/", views.choose_business, name="choose_business"),
    path("freshbooks/callbacks/", views.callbacks, name="callbacks"),
    path("freshbooks/callbacks/register/", views.callbacks_register_view, name="callbacks_register"),
    path("freshbooks/callbacks/<int:pk>/resend/", views.callback_resend, name="callback_resend"),
    path("freshbooks/disconnect/", views.disconnect, name="disconnect"),
]
