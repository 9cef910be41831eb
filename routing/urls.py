from django.urls import path

from routing import views

urlpatterns = [
    path("", views.rule_list_page, name="rule_list"),
    path("new/", views.rule_create_page, name="rule_create"),
    path("starter/", views.rule_starter, name="rule_starter"),
    path("<int:pk>/", views.rule_edit_page, name="rule_edit"),
    path("<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("<int:pk>/delete/", views.rule_delete_page, name="rule_delete"),
]
