"""Activity pages (mounted at /activity/)."""

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.activity_search, name="activity"),
    path("export.csv", views.activity_export, name="activity_export"),
    path("exports/<int:pk>/", views.activity_export_job, name="activity_export_job"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery_detail"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay_view, name="delivery_replay"),
    path("events/<int:pk>/", views.inbound_detail, name="inbound_detail"),
    path("replay/", views.bulk_replay_view, name="bulk_replay"),
    path("replay/<int:pk>/", views.bulk_replay_progress, name="bulk_replay_progress"),
]
