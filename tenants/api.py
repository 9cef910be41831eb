"""REST API for the tenant itself and its API tokens."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.activity import activity_record
from connector.core.pagination import Pagination
from tenants.models import ApiToken


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        tenant = serializers.CharField()
        tenant_name = serializers.CharField()
        base_currency = serializers.CharField()
        role = serializers.CharField()
        email = serializers.EmailField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer({
            "tenant": request.tenant.slug, "tenant_name": request.tenant.name,
            "base_currency": request.tenant.base_currency, "role": request.membership.role,
            "email": request.user.email,
        }).data)


class ApiTokenOutputSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "created_at", "last_used_at"]


class ApiTokenListApi(APIView):
    pagination_class = Pagination

    @extend_schema(responses=ApiTokenOutputSerializer(many=True))
    def get(self, request):
        tokens = ApiToken.objects.for_tenant(request.tenant).select_related("user").order_by("id")
        paginator = Pagination()
        page = paginator.paginate_queryset(tokens, request, view=self)
        return paginator.get_paginated_response(ApiTokenOutputSerializer(page, many=True).data)


class ApiTokenDetailApi(APIView):
    def _get(self, request, pk):
        return get_object_or_404(ApiToken.objects.for_tenant(request.tenant).select_related("user"), pk=pk)

    @extend_schema(responses=ApiTokenOutputSerializer)
    def get(self, request, pk: int):
        return Response(ApiTokenOutputSerializer(self._get(request, pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        token = self._get(request, pk)
        token.delete()
        activity_record(tenant=request.tenant, actor=request.user, action="api_token.revoked", target=token.prefix)
        return Response(status=204)
