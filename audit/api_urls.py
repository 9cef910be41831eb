"""The deliveries API's URLs (mounted at /api/v1/), with the background exports of large CSVs."""

from django.urls import path

from audit import api

urlpatterns = [
    path("deliveries/", api.DeliveryListApi.as_view(), name="api-delivery-list"),
    path("deliveries/export.csv", api.DeliveryExportApi.as_view(), name="api-delivery-export"),
    path("exports/<int:pk>/", api.ExportJobDetailApi.as_view(), name="api-export-detail"),
    path("exports/<int:pk>/download/", api.ExportJobDownloadApi.as_view(), name="api-export-download"),
    path("ignored-events/", api.IgnoredEventListApi.as_view(), name="api-ignored-event-list"),
    path("deliveries/<int:pk>/", api.DeliveryDetailApi.as_view(), name="api-delivery-detail"),
    path("deliveries/<int:pk>/replay/", api.DeliveryReplayApi.as_view(), name="api-delivery-replay"),
]
