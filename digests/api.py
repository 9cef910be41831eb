"""REST API for digests: list, create, read, change, delete (tenant-scoped; another tenant's digest is 404)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connector.core.pagination import Pagination
from digests import services
from digests.models import NAME_MAX_LENGTH, Digest, Frequency


class DigestInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    channel_id = serializers.CharField(max_length=32, help_text="A Slack channel id of the tenant's workspace.")
    frequency = serializers.ChoiceField(choices=Frequency.values, help_text="`daily` or `weekly`.")
    weekday = serializers.IntegerField(min_value=0, max_value=6, allow_null=True, required=False,
                                       help_text="Weekly digests only: 0 = Monday … 6 = Sunday.")
    time = serializers.CharField(max_length=5, help_text='"HH:MM", 24-hour, on the tenant\'s clock.')
    enabled = serializers.BooleanField(required=False, help_text="Default true.")


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "example": "09:00"})
class ClockTimeField(serializers.TimeField):
    """A time of day as "HH:MM" (OpenAPI's `format: time` would promise seconds and an offset)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class DigestOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    channel_id = serializers.CharField()
    channel_name = serializers.CharField()
    frequency = serializers.ChoiceField(choices=Frequency.values)
    weekday = serializers.IntegerField(allow_null=True)
    time = ClockTimeField()
    enabled = serializers.BooleanField()
    last_sent_at = serializers.DateTimeField(allow_null=True, help_text="End of the period the last digest covered.")
    next_due_at = serializers.DateTimeField(allow_null=True, help_text="When it is next sent (UTC).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DigestApiErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField(help_text='For validation errors: {"fields": {field: [message, ...]}}.')


ERRORS = {400: DigestApiErrorSerializer, 403: DigestApiErrorSerializer, 404: DigestApiErrorSerializer}


def _input(request, *, partial: bool = False) -> dict:
    serializer = DigestInputSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class DigestListApi(APIView):
    pagination_class = Pagination

    @extend_schema(responses=DigestOutputSerializer(many=True), summary="The tenant's digests")
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(Digest.objects.for_tenant(request.tenant), request, view=self)
        return paginator.get_paginated_response(DigestOutputSerializer(page, many=True).data)

    @extend_schema(request=DigestInputSerializer, responses={201: DigestOutputSerializer, **ERRORS},
                   summary="Create a digest")
    def post(self, request):
        digest = services.digest_create(tenant=request.tenant, actor=request.user, data=_input(request))
        return Response(DigestOutputSerializer(digest).data, status=status.HTTP_201_CREATED)


class DigestDetailApi(APIView):
    def _digest(self, request, pk: int) -> Digest:
        return get_object_or_404(Digest.objects.for_tenant(request.tenant), pk=pk)

    @extend_schema(responses={200: DigestOutputSerializer, 404: DigestApiErrorSerializer}, summary="One digest")
    def get(self, request, pk: int):
        return Response(DigestOutputSerializer(self._digest(request, pk)).data)

    @extend_schema(request=DigestInputSerializer, responses={200: DigestOutputSerializer, **ERRORS},
                   summary="Change some fields of a digest")
    def patch(self, request, pk: int):
        digest = services.digest_update(tenant=request.tenant, actor=request.user, digest=self._digest(request, pk),
                                        data=_input(request, partial=True))
        return Response(DigestOutputSerializer(digest).data)

    @extend_schema(responses={204: OpenApiResponse(description="Deleted"), 403: DigestApiErrorSerializer,
                              404: DigestApiErrorSerializer}, summary="Delete a digest")
    def delete(self, request, pk: int):
        services.digest_delete(tenant=request.tenant, actor=request.user, digest=self._digest(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
