from django.contrib.auth import views as auth_views
from django.urls import path

from connector.core.limits import rate_limit
from tenants import views

# Each POST counts against the caller's IP and the address being tried (settings LOGIN_RATE, PASSWORD_RESET_RATE).
login_view = rate_limit("login", rate_setting="LOGIN_RATE", fields=("username",))(
    auth_views.LoginView.as_view(redirect_authenticated_user=True))
password_reset_view = rate_limit("password_reset", rate_setting="PASSWORD_RESET_RATE", fields=("email",))(
    auth_views.PasswordResetView.as_view())

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/check-email/", views.signup_sent, name="signup_sent"),
    path("signup/verify/<str:token>/", views.signup_verify, name="signup_verify"),
    path("login/", login_view, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("slack/link/<str:token>/", views.slack_link_accept_view, name="slack_link_accept"),
    path("settings/slack-links/<int:pk>/remove/", views.slack_link_remove_view, name="slack_link_remove"),
    path("password-reset/", password_reset_view, name="password_reset"),
    path("password-reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("businesses/new/", views.tenant_create_view, name="tenant_create"),
    path("businesses/switch/", views.tenant_switch, name="tenant_switch"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/webhook-token/rotate/", views.webhook_token_rotate, name="webhook_token_rotate"),
    path("settings/api-tokens/", views.api_token_create_view, name="api_token_create"),
    path("settings/api-tokens/<int:pk>/delete/", views.api_token_delete, name="api_token_delete"),
    path("settings/retention/", views.retention_update, name="retention_update"),
    path("settings/invitations/", views.invitation_create_view, name="invitation_create"),
    path("settings/invitations/<int:pk>/cancel/", views.invitation_revoke_view, name="invitation_revoke"),
    path("settings/members/<int:pk>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
]
