"""Deliveries API: `source` says whether a webhook or a catch-up read brought the event (contract)."""

import pytest
import yaml

from audit.models import InboundEvent
from tests.factories import DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def test_source_in_the_list_and_the_detail(owner_api, tenant):
    by_webhook = DeliveryFactory(tenant=tenant)
    polled = InboundEventFactory(tenant=tenant, raw_body="", source=InboundEvent.Source.POLL)
    by_poll = DeliveryFactory(tenant=tenant, inbound_event=polled)

    rows = {r["id"]: r["source"] for r in owner_api.get("/api/v1/deliveries/").json()["results"]}
    assert rows == {by_webhook.pk: "webhook", by_poll.pk: "poll"}
    assert owner_api.get(f"/api/v1/deliveries/{by_poll.pk}/").json()["source"] == "poll"


def test_source_in_the_schema(owner_api):
    schema = yaml.safe_load(owner_api.get("/api/v1/schema/").content)
    components = schema["components"]["schemas"]
    source = components["DeliveryOutput"]["properties"]["source"]
    if "$ref" in source:
        source = components[source["$ref"].rsplit("/", 1)[-1]]
    elif "allOf" in source:
        source = components[source["allOf"][0]["$ref"].rsplit("/", 1)[-1]]
    assert source["enum"] == ["webhook", "poll"]
