"""The deliveries API's URLs (mounted at /api/v1/)."""

from django.urls import path

from audit import api

urlpatterns = [
    path("deliveries/", api.DeliveryListApi.as_view(), name="api-delivery-list"),
    path("deliveries/export.csv", api.DeliveryExportApi.as_view(), name="api-delivery-export"),
    path("ignored-events/", api.IgnoredEventListApi.as_view(), name="api-ignored-event-list"),
    path("deliveries/<int:pk>/", api.DeliveryDetailApi.as_view(), name="api-delivery-detail"),
    path("deliveries/<int:pk>/replay/", api.DeliveryReplayApi.as_view(), name="api-delivery-replay"),
]
