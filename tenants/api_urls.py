"""The tenancy API's URLs (mounted at /api/v1/): who am I, and API tokens."""

from django.urls import path

from tenants import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("api-tokens/", api.ApiTokenListApi.as_view(), name="api-token-list"),
    path("api-tokens/<int:pk>/", api.ApiTokenDetailApi.as_view(), name="api-token-detail"),
]
