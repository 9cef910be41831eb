"""REST API /api/v1/rules/: CRUD, preview, the error shape, tenancy and roles."""

from decimal import Decimal

import pytest

from audit.models import ActivityLog, InboundEvent
from routing.models import Rule
from tests.factories import RuleFactory, financial_event

pytestmark = pytest.mark.django_db

URL = "/api/v1/rules/"


def body(**overrides) -> dict:
    return {"name": "Big invoices", "events": ["invoice.create", "invoice.update"], "min_amount": "5000.00",
            "channel_id": "C0EXEC", **overrides}


def test_create_and_read_back_with_the_contract_fields(owner_api, tenant, channels):
    response = owner_api.post(URL, body(note="@cfo"), format="json")
    assert response.status_code == 201
    created = response.json()
    rule = Rule.objects.for_tenant(tenant).get()
    assert created == {
        "id": rule.pk, "name": "Big invoices", "enabled": True, "events": ["invoice.create", "invoice.update"],
        "min_amount": "5000.00", "max_amount": None, "currency": None, "counterparty_contains": "",
        "expense_categories_in": [], "expense_categories_not_in": [], "has_client": None, "statuses": [],
        "status_changed_only": False, "channel_id": "C0EXEC", "channel_name": "exec-alerts", "note": "@cfo",
        "position": 0, "updates": "thread",
        "summary": "Invoice created, Invoice updated ≥ 5,000.00 USD → #exec-alerts (updates in the card's thread)",
        "created_at": created["created_at"], "updated_at": created["updated_at"],
    }
    assert owner_api.get(f"{URL}{rule.pk}/").json() == created
    assert owner_api.get(URL).json()["results"] == [created]
    assert ActivityLog.objects.for_tenant(tenant).filter(action="rule.created").count() == 1


def test_every_condition_can_be_set_through_the_api(owner_api, tenant, channels):
    response = owner_api.post(URL, body(
        events=["expense.create", "expense.update"], min_amount="10", max_amount="99.5", currency="cad",
        counterparty_contains="Air", expense_categories_in=["Travel"], expense_categories_not_in=["Meals"],
        has_client=True, statuses=["approved"], status_changed_only=True, enabled=False, position=7,
    ), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["max_amount"], data["currency"], data["has_client"], data["enabled"], data["position"]) == \
        ("99.50", "CAD", True, False, 7)


def test_patch_changes_only_what_is_sent(owner_api, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Keep", min_amount=Decimal("5000"), channel_id="C0EXEC",
                       channel_name="exec-alerts")
    response = owner_api.patch(f"{URL}{rule.pk}/", {"enabled": False, "max_amount": None}, format="json")
    assert response.status_code == 200
    assert (response.json()["enabled"], response.json()["name"], response.json()["min_amount"]) == \
        (False, "Keep", "5000.00")


def test_delete(owner_api, tenant, channels):
    rule = RuleFactory(tenant=tenant)
    assert owner_api.delete(f"{URL}{rule.pk}/").status_code == 204
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert ActivityLog.objects.for_tenant(tenant).filter(action="rule.deleted").exists()


@pytest.mark.parametrize("overrides,fields", [
    ({"min_amount": "100", "max_amount": "50"}, {"max_amount": ["The maximum must not be below the minimum."]}),
    ({"events": []}, {"events": ["Choose at least one event."]}),
    ({"channel_id": "C0THEIRS"}, {"channel_id": ["Choose a channel of your Slack workspace."]}),
    ({"currency": "XYZ"}, {"currency": ["Unknown currency code: XYZ. Use an ISO 4217 code such as USD."]}),
    # Limits are the service's alone: the API reports them in the same words as the web form.
    ({"name": "x" * 101}, {"name": ["Keep this to 100 characters or fewer."]}),
    ({"min_amount": "-5"}, {"min_amount": ["Amounts cannot be negative."]}),
    ({"position": -1}, {"position": ["Use a whole number from 0 to 2147483647."]}),
    ({"has_client": False}, {"has_client": ["This applies to expenses only: choose an expense event too, "
                                            "or clear it."]}),
])
def test_invalid_rules_are_400_with_field_errors(owner_api, tenant, channels, overrides, fields):
    response = owner_api.post(URL, body(**overrides), format="json")
    assert response.status_code == 400
    assert response.json() == {"message": "Validation error", "extra": {"fields": fields}}
    assert not Rule.objects.for_tenant(tenant).exists()


def test_malformed_fields_get_the_same_error_shape(owner_api, tenant, channels):
    response = owner_api.post(URL, {"events": ["invoice.create", "nope"], "min_amount": "lots"}, format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["message"] == "Validation error"
    assert set(data["extra"]["fields"]) == {"name", "events", "min_amount", "channel_id"}
    assert data["extra"]["fields"]["events"] == {"1": ['"nope" is not a valid choice.']}


def test_patch_is_validated_against_the_whole_rule(owner_api, tenant, channels):
    rule = RuleFactory(tenant=tenant, min_amount=Decimal("5000"))
    response = owner_api.patch(f"{URL}{rule.pk}/", {"max_amount": "10"}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"max_amount": ["The maximum must not be below the minimum."]}


def test_a_rule_cannot_be_moved_to_a_channel_of_another_tenant(owner_api, tenant, channels):
    rule = RuleFactory(tenant=tenant, channel_id="C0EXEC", channel_name="exec-alerts")
    response = owner_api.patch(f"{URL}{rule.pk}/", {"channel_id": channels["theirs"]}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"channel_id": ["Choose a channel of your Slack workspace."]}
    rule.refresh_from_db()
    assert rule.channel_id == "C0EXEC"


def test_preview_runs_a_draft_over_stored_events_without_saving(owner_api, tenant, channels):
    for object_id, amount in (("1", "6000"), ("2", "4000")):
        event = financial_event(object_id=object_id, amount=amount, currency="USD", counterparty="Acme",
                                document_number=f"INV-{object_id}")
        InboundEvent.objects.create(tenant=tenant, name=event.event_name, object_id=object_id, raw_body="x",
                                    status=InboundEvent.Status.PROCESSED, financial_event=event.to_dict())
    response = owner_api.post(f"{URL}preview/", body(), format="json")
    assert response.status_code == 200
    data = response.json()
    assert (data["checked"], data["matched"]) == (2, 1)
    [match] = data["matches"]
    assert {k: match[k] for k in ("event", "object_id", "document_number", "counterparty", "amount", "currency",
                                  "channel_id", "channel_name", "other_channel_ids")} == {
        "event": "invoice.create", "object_id": "1", "document_number": "INV-1", "counterparty": "Acme",
        "amount": "6000", "currency": "USD", "channel_id": "C0EXEC", "channel_name": "exec-alerts",
        "other_channel_ids": [],
    }
    assert not Rule.objects.for_tenant(tenant).exists()


def test_preview_validates_the_draft_like_a_new_rule(owner_api, channels):
    response = owner_api.post(f"{URL}preview/", body(channel_id="C0THEIRS", max_amount="1"), format="json")
    assert response.status_code == 400
    assert response.json() == {"message": "Validation error", "extra": {"fields": {
        "channel_id": ["Choose a channel of your Slack workspace."],
        "max_amount": ["The maximum must not be below the minimum."],
    }}}


def test_a_rule_of_another_tenant_is_404(owner_api, other_tenant, channels):
    theirs = RuleFactory(tenant=other_tenant, name="Theirs")
    for method, data in (("get", None), ("patch", {"name": "Mine"}), ("delete", None)):
        response = getattr(owner_api, method)(f"{URL}{theirs.pk}/", data, format="json")
        assert response.status_code == 404, method
        assert response.json() == {"message": "Not found.", "extra": {}}
    assert owner_api.get(URL).json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_viewers_read_but_get_403_on_every_change(viewer_api, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Safe")
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.get(f"{URL}{rule.pk}/").status_code == 200
    for method, url, data in (("post", URL, body()), ("patch", f"{URL}{rule.pk}/", {"name": "Hacked"}),
                              ("delete", f"{URL}{rule.pk}/", None), ("post", f"{URL}preview/", body())):
        response = getattr(viewer_api, method)(url, data, format="json")
        assert response.status_code == 403, (method, url)
        assert response.json() == {"message": "Your role in this business does not allow that.", "extra": {}}
    rule.refresh_from_db()
    assert rule.name == "Safe" and Rule.objects.for_tenant(tenant).count() == 1


def test_the_rules_api_is_in_the_schema(owner_api):
    schema = owner_api.get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/rules/:", "/api/v1/rules/{id}/:", "/api/v1/rules/preview/:"):
        assert path in schema
    assert "invoice.sendByEmail" in schema  # events are documented as the FreshBooks event names
