"""Audit test fixtures. The delivery pipeline's replay needs the Slack app, which is not on this branch: a
stand-in with the same contract (new linked pending deliveries, an activity entry, ApplicationError on
refusal) replaces `connector.pipeline.replay.delivery_replay`, the one entry point the audit trail calls."""

import pytest

from audit.activity import activity_record
from audit.models import Delivery
from connector.core.errors import ApplicationError

UNKNOWN_CHANNEL = "CUNKNOWN"  # the stand-in refuses this channel, as the pipeline refuses unknown channels


class PipelineReplayStandIn:
    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, *, tenant, delivery, actor, mode="as_routed", channel_id=None):
        self.calls.append({"delivery": delivery.pk, "mode": mode, "channel_id": channel_id,
                           "actor": getattr(actor, "pk", None)})
        if delivery.tenant_id != tenant.pk:
            raise ApplicationError("Not found.", status=404)
        if channel_id == UNKNOWN_CHANNEL:
            raise ApplicationError("That channel is not in this business's Slack workspace.")
        replay = Delivery.objects.create(
            tenant=tenant, inbound_event=delivery.inbound_event, event_name=delivery.event_name,
            object_id=delivery.object_id, kind=delivery.kind, action=delivery.action, amount=delivery.amount,
            currency=delivery.currency, counterparty=delivery.counterparty,
            counterparty_index=delivery.counterparty_index, document_number=delivery.document_number,
            document_number_index=delivery.document_number_index, slack_team_id=delivery.slack_team_id,
            channel_id=channel_id or delivery.channel_id,
            channel_name="" if channel_id else delivery.channel_name, message_text=delivery.message_text,
            status=Delivery.Status.PENDING, replay_of=delivery, requested_by=actor,
        )
        activity_record(tenant=tenant, actor=actor, action="delivery.replay_requested",
                        target=f"delivery {delivery.pk}", details={"mode": mode, "replays": [replay.pk]})
        return [replay]


@pytest.fixture
def pipeline_replay(monkeypatch):
    stand_in = PipelineReplayStandIn()
    monkeypatch.setattr("connector.pipeline.replay.delivery_replay", stand_in)
    return stand_in
