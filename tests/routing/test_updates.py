"""Rule field `updates` (contract): "thread" for new rules, "channel" for rules that existed before it; set
through the API and the form, validated by the service, said in the summary."""

import pytest
import yaml
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from routing.models import Rule
from routing.summary import rule_summary
from tests.factories import RuleFactory

URL = "/api/v1/rules/"


def body(**overrides) -> dict:
    return {"name": "Invoices", "events": ["invoice.create", "invoice.update"], "channel_id": "C0EXEC", **overrides}


@pytest.mark.django_db
def test_a_new_rule_threads_its_updates_and_the_api_changes_it(owner_api, tenant, channels):
    created = owner_api.post(URL, body(), format="json").json()
    assert created["updates"] == "thread"
    assert created["summary"].endswith("→ #exec-alerts (updates in the card's thread)")
    changed = owner_api.patch(f"{URL}{created['id']}/", {"updates": "channel"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["updates"] == "channel"
    assert changed.json()["summary"].endswith("(updates as new messages)")
    assert Rule.objects.get(pk=created["id"]).updates == "channel"


@pytest.mark.django_db
def test_an_unknown_updates_value_is_a_400_naming_the_field(owner_api, tenant, channels):
    response = owner_api.post(URL, body(updates="sometimes"), format="json")
    assert response.status_code == 400
    assert "updates" in response.json()["extra"]["fields"]


@pytest.mark.django_db
def test_the_schema_lists_the_two_values(owner_api):
    schema = yaml.safe_load(owner_api.get("/api/v1/schema/").content)["components"]["schemas"]
    for name in ("RuleInputRequest", "RuleOutput"):
        prop = schema[name]["properties"]["updates"]
        ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
        enum = schema[ref.rsplit("/", 1)[-1]]["enum"] if ref else prop["enum"]
        assert enum == ["thread", "channel"]


@pytest.mark.django_db
def test_the_form_offers_the_choice_and_saves_it(owner_client, tenant, channels):
    page = owner_client.get("/rules/new/").content.decode()
    assert 'name="updates"' in page and "Edit its card" in page
    response = owner_client.post("/rules/new/", {"name": "Invoices", "events": ["invoice.create"],
                                                 "channel_id": "C0EXEC", "updates": "channel", "enabled": "on",
                                                 "save": "1"})
    assert response.status_code == 302
    assert Rule.objects.for_tenant(tenant).get().updates == "channel"


@pytest.mark.django_db
def test_expense_only_rules_say_nothing_about_cards(tenant):
    rule = RuleFactory(tenant=tenant, events=["expense.create"], channel_name="spend")
    assert rule_summary(rule, base_currency="USD") == "Expense submitted → #spend"


@pytest.mark.django_db(transaction=True)
def test_rules_saved_before_the_field_keep_posting_every_event():
    executor = MigrationExecutor(connection)
    executor.migrate([("routing", "0001_initial")])
    old_apps = executor.loader.project_state([("routing", "0001_initial")]).apps
    Tenant = old_apps.get_model("tenants", "Tenant")
    tenant = Tenant.objects.create(name="Old", slug="old-rules", webhook_token_hash="0" * 64)
    old_apps.get_model("routing", "Rule").objects.create(tenant_id=tenant.pk, name="Old", events=["invoice.create"],
                                                         channel_id="C1")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Rule.objects.get(name="Old").updates == "channel"
    assert Rule(name="New").updates == "thread"
