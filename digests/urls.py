from django.urls import path

from digests import views

urlpatterns = [
    path("", views.digest_list_page, name="digest_list"),
    path("new/", views.digest_create_page, name="digest_create"),
    path("<int:pk>/", views.digest_edit_page, name="digest_edit"),
    path("<int:pk>/delete/", views.digest_delete_page, name="digest_delete"),
]
