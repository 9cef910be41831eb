from django.urls import path

from digests import api

urlpatterns = [
    path("", api.DigestListApi.as_view(), name="api-digest-list"),
    path("<int:pk>/", api.DigestDetailApi.as_view(), name="api-digest-detail"),
]
