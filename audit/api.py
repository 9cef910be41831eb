"""REST API over the ledger: deliveries search, detail, replay, CSV export, and the
inbound events that made no delivery ("ignored"), which are not deliveries and so have their own list.

Filters are query parameters, the same as the Activity page's (see audit.selectors):
`since`, `until` (ISO 8601 date-times; a bare date means its midnight in UTC; `until` is exclusive),
`event`, `kind`, `action`, `status` (repeatable), `channel_id`, `amount_min`, `amount_max` (inclusive),
`counterparty` and `document_number` (exact, through blind indexes), `object_id`, `sort`.
`GET /api/v1/deliveries/export.csv` takes the same filters and streams CSV (a separate path rather than
`?format=csv`, which DRF reserves for content negotiation).
"""

from django.db.models import F
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.export import (
    export_is_small,
    export_job_available,
    export_job_download,
    export_job_start,
    export_response,
)
from audit.models import Delivery, ExportJob, InboundEvent
from audit.selectors import IGNORED, SORTS, delivery_get, delivery_search, inbound_search
from connector.core.api import AmountField, ErrorSerializer
from connector.core.errors import ApplicationError
from connector.core.events import Action, Kind
from connector.core.pagination import Pagination
from connector.pipeline.replay import ReplayMode, delivery_replay


class DeliveryOutputSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event_name")
    replay_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    source = serializers.SerializerMethodField(help_text="What brought the event: `webhook`, or `poll` (a "
                                                         "catch-up read found a change no webhook brought).")
    slack_action = serializers.ChoiceField(
        choices=Delivery.SlackAction.values, read_only=True,
        help_text="`post` (a top-level message, a card's first message included), `reply` (a line in a card's "
                  "thread) or `edit` (the card updated in place to its document's latest state).")
    thread_ts = serializers.SerializerMethodField(help_text="Replies: the ts of the card they are under; null "
                                                            "for posts and edits (and a reply not placed yet).")

    class Meta:
        model = Delivery
        fields = ["id", "event", "object_id", "kind", "action", "amount", "currency", "channel_id", "channel_name",
                  "status", "held_reason", "last_error_code", "attempt_count", "slack_ts", "posted_at",
                  "replay_of", "source", "slack_action", "thread_ts", "created_at", "updated_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thread_ts(self, delivery: Delivery) -> str | None:
        return delivery.thread_ts or None if delivery.slack_action == Delivery.SlackAction.REPLY else None

    @extend_schema_field(serializers.ChoiceField(choices=InboundEvent.Source.choices))
    def get_source(self, delivery: Delivery) -> str:
        # Lists annotate it (one query); a single delivery reads its event.
        return getattr(delivery, "event_source", None) or delivery.inbound_event.source


FILTER_MAX_LENGTH = 200  # longer than any name, number or id the ledger holds


class SearchFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601, exclusive).")
    event = serializers.CharField(required=False, allow_blank=True, max_length=FILTER_MAX_LENGTH,
                                  help_text="FreshBooks event name, e.g. invoice.create.")
    kind = serializers.ChoiceField(choices=[k.value for k in Kind], required=False)
    action = serializers.ChoiceField(choices=[a.value for a in Action], required=False)
    channel_id = serializers.CharField(required=False, allow_blank=True, max_length=FILTER_MAX_LENGTH)
    amount_min = AmountField(required=False)
    amount_max = AmountField(required=False)
    counterparty = serializers.CharField(required=False, allow_blank=True, max_length=FILTER_MAX_LENGTH,
                                         help_text="Client or vendor name, exact match (case and spacing "
                                                   "ignored).")
    document_number = serializers.CharField(required=False, allow_blank=True, max_length=FILTER_MAX_LENGTH,
                                            help_text="Invoice or bill number, exact match.")
    object_id = serializers.CharField(required=False, allow_blank=True, max_length=FILTER_MAX_LENGTH)
    sort = serializers.ChoiceField(choices=list(SORTS), required=False, default="-created_at")

    def validate(self, attrs):
        low, high = attrs.get("amount_min"), attrs.get("amount_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"amount_max": ["Must be at least amount_min."]})
        return attrs


class DeliveryStatusField(serializers.MultipleChoiceField):
    """Delivery statuses; `ignored` (the Activity page's extra filter) gets a pointer instead of a bare
    "not a valid choice"."""

    def to_internal_value(self, data):
        if IGNORED in (data if isinstance(data, list | tuple) else [data]):
            raise serializers.ValidationError(
                "Ignored events made no delivery: list them at /api/v1/ignored-events/.")
        return super().to_internal_value(data)


class DeliveryFilterSerializer(SearchFilterSerializer):
    status = DeliveryStatusField(choices=Delivery.Status.values, required=False,
                                 help_text="Repeatable. For events that made no delivery, use "
                                           "/api/v1/ignored-events/.")

    def validate_status(self, value):
        return sorted(value)


def _filters(request, serializer_class) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {name: value for name, value in serializer.validated_data.items() if value != ""}  # blank: no filter


class DeliveryListApi(APIView):
    pagination_class = Pagination  # for the schema: drf-spectacular documents the paginated envelope

    @extend_schema(parameters=[DeliveryFilterSerializer], responses=DeliveryOutputSerializer(many=True))
    def get(self, request):
        filters = _filters(request, DeliveryFilterSerializer)
        qs = (delivery_search(tenant=request.tenant, filters=filters).defer("message_text", "message_blocks")
              .annotate(event_source=F("inbound_event__source")))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DeliveryOutputSerializer(page, many=True).data)


class CSVRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation. The CSV itself is a streamed response; only an
    error (a dict) is rendered here, as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return renderers.JSONRenderer().render(data)


class ExportJobSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ["id", "status", "rows", "error", "created_at", "finished_at", "download_url"]

    def get_download_url(self, job) -> str | None:
        if not export_job_available(job):
            return None
        return self.context["request"].build_absolute_uri(reverse("api-export-download", args=[job.pk]))


class _CsvApi(APIView):
    """A CSV endpoint whose errors (and other non-CSV answers) are JSON, whatever format was asked for."""

    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    def answer_in_json(self) -> None:
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = self.request.accepted_renderer.media_type

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.answer_in_json()  # the one error shape
        return response


class DeliveryExportApi(_CsvApi):

    @extend_schema(parameters=[DeliveryFilterSerializer],
                   description="Up to EXPORT_MAX_ROWS rows the CSV is streamed at once (200). A larger export "
                               "is prepared in the background (202): poll /api/v1/exports/{id}/ and download "
                               "its `download_url` when `status` is `done`.",
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, streamed"),
                              (202, "application/json"): ExportJobSerializer})
    def get(self, request):
        filters = _filters(request, DeliveryFilterSerializer)
        if export_is_small(tenant=request.tenant, filters=filters):
            return export_response(tenant=request.tenant, filters=filters, filename="deliveries.csv")
        job = export_job_start(tenant=request.tenant, actor=request.user, filters=filters,
                               filename="deliveries.csv")
        self.answer_in_json()
        return Response(ExportJobSerializer(job, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)


def _export_job(request, pk) -> ExportJob:
    return get_object_or_404(ExportJob.objects.for_tenant(request.tenant), pk=pk)


class ExportJobDetailApi(APIView):
    @extend_schema(responses=ExportJobSerializer)
    def get(self, request, pk: int):
        return Response(ExportJobSerializer(_export_job(request, pk), context={"request": request}).data)


class ExportJobDownloadApi(_CsvApi):

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
                              409: ErrorSerializer},
                   description="The CSV of a finished export; 409 while it is being prepared, failed or expired.")
    def get(self, request, pk: int):
        job = _export_job(request, pk)
        if not export_job_available(job):
            raise ApplicationError(f"This export is not ready for download ({job.get_status_display().lower()}"
                                   f"{', expired' if job.status == ExportJob.Status.DONE else ''}).",
                                   {"status": job.status}, status=409)
        return export_job_download(job)


class IgnoredEventOutputSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="name")
    reason = serializers.CharField(source="status_reason")
    created_at = serializers.DateTimeField(source="received_at")

    class Meta:
        model = InboundEvent
        fields = ["id", "event", "object_id", "status", "reason", "amount", "created_at"]


class IgnoredEventListApi(APIView):
    pagination_class = Pagination
    @extend_schema(parameters=[SearchFilterSerializer], responses=IgnoredEventOutputSerializer(many=True),
                   description="Inbound FreshBooks events that made no delivery: an event name the product does "
                               "not handle, or no rule matched.")
    def get(self, request):
        filters = {**_filters(request, SearchFilterSerializer), "status": [IGNORED]}
        qs = inbound_search(tenant=request.tenant, filters=filters).only(
            "id", "name", "object_id", "status", "status_reason", "amount", "received_at")
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(IgnoredEventOutputSerializer(page, many=True).data)


def _get_or_404(request, pk):
    try:
        return delivery_get(tenant=request.tenant, pk=pk)
    except Delivery.DoesNotExist as exc:
        raise Http404 from exc


class DeliveryDetailApi(APIView):
    @extend_schema(responses=DeliveryOutputSerializer)
    def get(self, request, pk: int):
        return Response(DeliveryOutputSerializer(_get_or_404(request, pk)).data)


class DeliveryReplayApi(APIView):
    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=ReplayMode.ALL,
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
