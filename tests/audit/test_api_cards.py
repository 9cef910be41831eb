"""Deliveries API: `slack_action` (post, reply, edit) and `thread_ts` for replies (contract)."""

import pytest
import yaml

from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def test_slack_action_and_thread_ts_in_the_list_and_the_detail(owner_api, tenant):
    post = DeliveryFactory(tenant=tenant, slack_ts="1700000000.000100")
    reply = DeliveryFactory(tenant=tenant, slack_action="reply", thread_ts="1700000000.000100",
                            slack_ts="1700000001.000200")
    edit = DeliveryFactory(tenant=tenant, slack_action="edit", slack_ts="1700000000.000100")

    rows = {r["id"]: (r["slack_action"], r["thread_ts"]) for r in owner_api.get("/api/v1/deliveries/").json()["results"]}
    assert rows == {post.pk: ("post", None), reply.pk: ("reply", "1700000000.000100"), edit.pk: ("edit", None)}
    detail = owner_api.get(f"/api/v1/deliveries/{reply.pk}/").json()
    assert (detail["slack_action"], detail["thread_ts"], detail["kind"]) == ("reply", "1700000000.000100", "invoice")


def test_slack_action_in_the_schema(owner_api):
    schema = yaml.safe_load(owner_api.get("/api/v1/schema/").content)["components"]["schemas"]
    prop = schema["DeliveryOutput"]["properties"]["slack_action"]
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
    assert (schema[ref.rsplit("/", 1)[-1]]["enum"] if ref else prop["enum"]) == ["post", "reply", "edit"]
    assert schema["DeliveryOutput"]["properties"]["thread_ts"]["nullable"] is True


def test_the_delivery_page_says_it_is_a_reply_in_the_thread(owner_client, tenant):
    reply = DeliveryFactory(tenant=tenant, slack_action="reply", thread_ts="1700000000.000100", reply_broadcast=True,
                            status="posted", slack_ts="1700000001.000200")
    page = owner_client.get(f"/activity/deliveries/{reply.pk}/").content.decode()
    assert "a reply in the card&#x27;s thread" in page or "a reply in the card's thread" in page
    assert "also shown in the channel" in page
