"""REST API for rules: list, create, read, change, delete, and preview a draft rule.

The input serializer only shapes the JSON (types, required fields); routing.services.rule_build decides
what is valid and its field errors are the API's 400 (see connector.core.api).
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from connector.core.events import SUPPORTED_EVENTS
from connector.core.pagination import Pagination
from routing import services
from routing.models import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, Rule, Updates
from routing.selectors import PREVIEW_EVENT_LIMIT, rule_list, rule_preview
from routing.summary import rule_summary


def _amount(help_text: str) -> serializers.DecimalField:
    # A number of any size here: its limits are the service's.
    return serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True, required=False,
                                    help_text=help_text)


def _words(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(allow_blank=True), required=False,
                                 help_text=help_text)


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField(required=False, help_text="Default true.")
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(SUPPORTED_EVENTS)),
                                   help_text="FreshBooks event names; at least one.")
    min_amount = _amount("Inclusive lower bound, in `currency` (the base currency when null).")
    max_amount = _amount("Inclusive upper bound, in `currency` (the base currency when null).")
    currency = serializers.CharField(allow_null=True, allow_blank=True, required=False,
                                     help_text="ISO 4217. Set: only events in this currency match. Null: amount "
                                               "bounds are in the tenant's base currency.")
    counterparty_contains = serializers.CharField(allow_blank=True, required=False,
                                                  help_text="Case-insensitive substring.")
    expense_categories_in = _words("Expense events only: the category is one of these.")
    expense_categories_not_in = _words("Expense events only: the category is none of these.")
    has_client = serializers.BooleanField(allow_null=True, required=False,
                                          help_text="Expense events only: billable to a client (null: either).")
    statuses = _words("The event's FreshBooks status is one of these (case-insensitive).")
    status_changed_only = serializers.BooleanField(required=False,
                                                   help_text="Update events match only when the status changed.")
    channel_id = serializers.CharField(allow_blank=True, help_text="A Slack channel id of the tenant's workspace.")
    note = serializers.CharField(allow_blank=True, required=False, help_text="Prepended to the message, e.g. a mention.")
    position = serializers.IntegerField(required=False, help_text="Order in the list (0 to 2147483647).")
    updates = serializers.ChoiceField(
        choices=Updates.values, required=False,
        help_text="Later events about an invoice or bill: `thread` (default) edits the document's first message "
                  "(its card) and replies in its thread; `channel` posts each as a new message.")


class RuleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(SUPPORTED_EVENTS)))
    min_amount = serializers.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES,
                                          allow_null=True)
    max_amount = serializers.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES,
                                          allow_null=True)
    currency = serializers.CharField(allow_null=True)
    counterparty_contains = serializers.CharField()
    expense_categories_in = serializers.ListField(child=serializers.CharField())
    expense_categories_not_in = serializers.ListField(child=serializers.CharField())
    has_client = serializers.BooleanField(allow_null=True)
    statuses = serializers.ListField(child=serializers.CharField())
    status_changed_only = serializers.BooleanField()
    channel_id = serializers.CharField()
    channel_name = serializers.CharField()
    note = serializers.CharField()
    position = serializers.IntegerField()
    updates = serializers.ChoiceField(choices=Updates.values)
    summary = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_summary(self, rule: Rule) -> str:
        return rule_summary(rule, base_currency=self.context["base_currency"])


class PreviewMatchSerializer(serializers.Serializer):
    inbound_event_id = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    event = serializers.CharField(source="event.event_name", help_text="The FreshBooks event name.")
    label = serializers.CharField(source="event.label")
    object_id = serializers.CharField(source="event.object_id")
    document_number = serializers.CharField(source="event.document_number")
    counterparty = serializers.CharField(source="event.counterparty")
    amount = serializers.DecimalField(source="event.amount", max_digits=None, decimal_places=None,
                                      allow_null=True)
    currency = serializers.CharField(source="event.currency", allow_null=True)
    channel_id = serializers.CharField()
    channel_name = serializers.CharField()
    other_channel_ids = serializers.SerializerMethodField(
        help_text="Channels the tenant's other enabled rules send the same event to.")

    def get_other_channel_ids(self, match) -> list[str]:
        return [channel_id for channel_id, _ in match.other_channels]


class PreviewOutputSerializer(serializers.Serializer):
    checked = serializers.IntegerField(help_text=f"Stored events replayed (the latest, at most "
                                                 f"{PREVIEW_EVENT_LIMIT}).")
    matched = serializers.IntegerField()
    matches = PreviewMatchSerializer(many=True)


class RuleApiErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField(help_text='For validation errors: {"fields": {field: [message, ...]}}.')


ERRORS = {400: RuleApiErrorSerializer, 403: RuleApiErrorSerializer, 404: RuleApiErrorSerializer}


def _output(request, rule: Rule) -> dict:
    return RuleOutputSerializer(rule, context={"base_currency": request.tenant.base_currency}).data


def _input(request, *, partial: bool = False) -> dict:
    serializer = RuleInputSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RuleListApi(APIView):
    pagination_class = Pagination

    @extend_schema(responses=RuleOutputSerializer(many=True), summary="The tenant's rules, in order")
    def get(self, request):
        context = {"base_currency": request.tenant.base_currency}
        paginator = Pagination()
        page = paginator.paginate_queryset(rule_list(tenant=request.tenant), request, view=self)
        return paginator.get_paginated_response(RuleOutputSerializer(page, many=True, context=context).data)

    @extend_schema(request=RuleInputSerializer, responses={201: RuleOutputSerializer, **ERRORS},
                   summary="Create a rule")
    def post(self, request):
        rule = services.rule_create(tenant=request.tenant, actor=request.user, data=_input(request))
        return Response(_output(request, rule), status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    def _rule(self, request, pk: int) -> Rule:
        return get_object_or_404(Rule.objects.for_tenant(request.tenant), pk=pk)

    @extend_schema(responses={200: RuleOutputSerializer, 404: RuleApiErrorSerializer}, summary="One rule")
    def get(self, request, pk: int):
        return Response(_output(request, self._rule(request, pk)))

    @extend_schema(request=RuleInputSerializer, responses={200: RuleOutputSerializer, **ERRORS},
                   summary="Change some fields of a rule")
    def patch(self, request, pk: int):
        rule = self._rule(request, pk)
        rule = services.rule_update(tenant=request.tenant, actor=request.user, rule=rule,
                                    data=_input(request, partial=True))
        return Response(_output(request, rule))

    @extend_schema(responses={204: OpenApiResponse(description="Deleted"), 403: RuleApiErrorSerializer,
                              404: RuleApiErrorSerializer}, summary="Delete a rule")
    def delete(self, request, pk: int):
        services.rule_delete(tenant=request.tenant, actor=request.user, rule=self._rule(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RulePreviewApi(APIView):
    @extend_schema(request=RuleInputSerializer, responses={200: PreviewOutputSerializer, **ERRORS},
                   summary="Try a draft rule on the latest stored events",
                   description=f"Validates the draft as a new rule would be, saves nothing, and replays the "
                               f"tenant's latest {PREVIEW_EVENT_LIMIT} normalised events through it (as if "
                               f"enabled), newest first.")
    def post(self, request):
        draft = services.rule_build(tenant=request.tenant, data=_input(request))
        preview = rule_preview(tenant=request.tenant, draft=draft)
        return Response(PreviewOutputSerializer({
            "checked": preview.checked, "matched": len(preview.matches), "matches": preview.matches,
        }).data)
