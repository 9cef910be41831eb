"""REST API over deliveries: list with filters, detail, replay (ARCHITECTURE §5)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Delivery
from audit.selectors import delivery_get, delivery_list
from connector.pipeline.replay import ReplayMode, delivery_replay


class DeliveryOutputSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event_name")
    replay_of = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "event", "object_id", "kind", "action", "amount", "currency", "channel_id", "channel_name",
                  "status", "held_reason", "last_error_code", "attempt_count", "slack_ts", "posted_at",
                  "replay_of", "created_at", "updated_at"]


class DeliveryListView(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)
        event = serializers.CharField(required=False)
        channel_id = serializers.CharField(required=False)
        object_id = serializers.CharField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=DeliveryOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(delivery_list(tenant=request.tenant, filters=filters.validated_data),
                                           request, view=self)
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True).data)


def _get_or_404(request, pk):
    try:
        return delivery_get(tenant=request.tenant, pk=pk)
    except Delivery.DoesNotExist as exc:
        raise Http404 from exc


class DeliveryDetailView(APIView):
    @extend_schema(responses=DeliveryOutputSerializer)
    def get(self, request, pk: int):
        return Response(DeliveryOutputSerializer(_get_or_404(request, pk)).data)


class DeliveryReplayView(APIView):
    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=[ReplayMode.AS_ROUTED, ReplayMode.REEVALUATE],
                                       default=ReplayMode.AS_ROUTED)
        channel_id = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses={202: DeliveryOutputSerializer(many=True)},
                   parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)])
    def post(self, request, pk: int):
        delivery = _get_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        replays = delivery_replay(tenant=request.tenant, delivery=delivery, actor=request.user,
                                  mode=data.validated_data["mode"],
                                  channel_id=data.validated_data.get("channel_id") or None)
        return Response(DeliveryOutputSerializer(replays, many=True).data, status=status.HTTP_202_ACCEPTED)
