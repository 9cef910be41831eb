from django.urls import path

from routing import api

urlpatterns = [
    path("", api.RuleListApi.as_view(), name="api-rule-list"),
    path("preview/", api.RulePreviewApi.as_view(), name="api-rule-preview"),
    path("<int:pk>/", api.RuleDetailApi.as_view(), name="api-rule-detail"),
]
