"""The rules pages: list, create and edit with field errors and preview, toggle, delete, starter set, roles."""

from decimal import Decimal

import pytest

from audit.models import ActivityLog, InboundEvent
from routing.models import Rule
from tests.factories import RuleFactory, financial_event

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    data = {"name": "Big invoices", "events": ["invoice.create", "invoice.update"], "min_amount": "5000",
            "max_amount": "", "currency": "", "counterparty_contains": "", "statuses": "",
            "expense_categories_in": "", "expense_categories_not_in": "", "has_client": "",
            "channel_id": "C0EXEC", "note": "", "enabled": "on"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def store(tenant, name="invoice.create", **fields):
    event = financial_event(name, **fields)
    return InboundEvent.objects.create(tenant=tenant, name=name, object_id=event.object_id, raw_body="x",
                                       status=InboundEvent.Status.PROCESSED, financial_event=event.to_dict())


# --- List -------------------------------------------------------------------------------------------


def test_the_list_shows_one_line_per_rule(owner_client, tenant, channels):
    RuleFactory(tenant=tenant, name="Big", events=["invoice.update", "invoice.create"],
                min_amount=Decimal("5000"), currency="USD", channel_id="C0EXEC", channel_name="exec-alerts")
    response = owner_client.get("/rules/")
    assert response.status_code == 200
    assert "Invoice created, Invoice updated ≥ 5,000.00 USD → #exec-alerts" in response.content.decode()
    assert 'href="/rules/"' in response.content.decode()  # the "Rules" link in the main navigation


def test_viewers_see_the_rules_but_no_change_buttons(viewer_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Big")
    page = viewer_client.get("/rules/").content.decode()
    assert "Big" in page
    for change in ("/rules/new/", f"/rules/{rule.pk}/delete/", f"/rules/{rule.pk}/toggle/", "Disable",
                   "/rules/starter/"):
        assert change not in page
    edit = viewer_client.get(f"/rules/{rule.pk}/")
    assert edit.status_code == 200
    assert "<fieldset disabled>" in edit.content.decode() and "Save rule" not in edit.content.decode()


def test_the_rules_of_another_tenant_are_not_listed(owner_client, other_tenant, channels):
    RuleFactory(tenant=other_tenant, name="Their secret rule")
    assert "Their secret rule" not in owner_client.get("/rules/").content.decode()


# --- Starter set ------------------------------------------------------------------------------------


def test_first_setup_offers_the_starter_set_with_the_usual_channels_chosen(owner_client, channels):
    response = owner_client.get("/rules/")
    form = response.context["starter_form"]
    assert form is not None
    assert form["accounting_channel_id"].value() == "C0ACCOUNTS"
    assert form["exec_channel_id"].value() == "C0EXEC"
    assert form["exec_min_amount"].value() == Decimal("5000")
    assert "Create these two rules" in response.content.decode()


def test_accepting_the_starter_set_with_edits_creates_both_rules(owner_client, tenant, channels):
    response = owner_client.post("/rules/starter/", {"accounting_channel_id": "C0TEAM",
                                                     "exec_channel_id": "C0EXEC", "exec_min_amount": "10000"})
    assert response.status_code == 302
    accounting, big = Rule.objects.for_tenant(tenant).order_by("position")
    assert (accounting.channel_name, accounting.events) == ("accounting-team",
                                                            ["invoice.create", "payment.create", "bill.create"])
    assert (big.channel_name, big.min_amount) == ("exec-alerts", Decimal("10000"))


def test_the_starter_set_refuses_a_channel_of_another_tenant(owner_client, tenant, channels):
    response = owner_client.post("/rules/starter/", {"accounting_channel_id": channels["theirs"],
                                                     "exec_channel_id": "C0EXEC", "exec_min_amount": "5000"})
    assert response.status_code == 200
    assert response.context["starter_form"].errors == {
        "accounting_channel_id": ["Choose a channel of your Slack workspace."]}
    assert not Rule.objects.for_tenant(tenant).exists()


def test_the_starter_set_is_not_offered_once_there_are_rules(owner_client, tenant, channels):
    RuleFactory(tenant=tenant)
    assert owner_client.get("/rules/").context["starter_form"] is None
    response = owner_client.post("/rules/starter/", {"accounting_channel_id": "C0ACCOUNTS",
                                                     "exec_channel_id": "C0EXEC", "exec_min_amount": "5000"},
                                 follow=True)
    assert "the starter set is for a first setup" in response.content.decode()
    assert Rule.objects.for_tenant(tenant).count() == 1


def test_without_slack_channels_the_page_says_to_connect_slack(owner_client):
    response = owner_client.get("/rules/")
    assert response.context["starter_form"] is None
    assert "Connect your Slack workspace first" in response.content.decode()


# --- Create and edit --------------------------------------------------------------------------------


def test_creating_a_rule(owner_client, tenant, owner, channels):
    response = owner_client.post("/rules/new/", form_data(note="@cfo", statuses="paid, partial"))
    assert response.status_code == 302 and response.url == "/rules/"
    rule = Rule.objects.for_tenant(tenant).get()
    assert (rule.name, rule.events, rule.min_amount, rule.currency, rule.channel_id, rule.channel_name,
            rule.note, rule.statuses, rule.enabled) == \
        ("Big invoices", ["invoice.create", "invoice.update"], Decimal("5000"), None, "C0EXEC", "exec-alerts",
         "@cfo", ["paid", "partial"], True)
    assert ActivityLog.objects.for_tenant(tenant).filter(action="rule.created", actor=owner).exists()


@pytest.mark.parametrize("overrides,field,message", [
    ({"min_amount": "100", "max_amount": "50"}, "max_amount", "The maximum must not be below the minimum."),
    ({"events": None}, "events", "Choose at least one event."),
    ({"channel_id": "C0THEIRS"}, "channel_id", "Choose a channel of your Slack workspace."),
    ({"channel_id": ""}, "channel_id", "Choose a channel of your Slack workspace."),
    ({"currency": "XYZ"}, "currency", "Select a valid choice. XYZ is not one of the available choices."),
    ({"name": ""}, "name", "This field is required."),
    # Limits are the service's alone: the form reports them in the same words as the API.
    ({"name": "x" * 101}, "name", "Keep this to 100 characters or fewer."),
    ({"min_amount": "-5"}, "min_amount", "Amounts cannot be negative."),
    ({"has_client": "yes"}, "has_client",
     "This applies to expenses only: choose an expense event too, or clear it."),
])
def test_invalid_rules_are_refused_with_a_message_at_the_field(owner_client, tenant, channels, overrides,
                                                               field, message):
    response = owner_client.post("/rules/new/", form_data(**overrides))
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [message]}
    page = response.content.decode()
    # the message is shown in its field's box, and only there
    [field_box] = page.split('class="field has-error"')[1:]
    assert f'"id_{field}' in field_box.split("</l")[0]
    assert f'<p class="error" role="alert">{message}</p>' in field_box
    assert not Rule.objects.for_tenant(tenant).exists()


def test_editing_a_rule_shows_it_and_saves_changes(owner_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Big", min_amount=Decimal("5000"), channel_id="C0EXEC",
                       channel_name="exec-alerts")
    page = owner_client.get(f"/rules/{rule.pk}/")
    assert page.context["form"]["min_amount"].value() == Decimal("5000")
    response = owner_client.post(f"/rules/{rule.pk}/", form_data(name="Bigger", min_amount="8000",
                                                                 channel_id="C0TEAM"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.min_amount, rule.channel_name) == ("Bigger", Decimal("8000"), "accounting-team")


def test_a_saved_channel_no_longer_offered_stays_selectable(owner_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, channel_id="C0GONE", channel_name="old-channel")
    page = owner_client.get(f"/rules/{rule.pk}/").content.decode()
    assert "#old-channel (no longer available)" in page
    response = owner_client.post(f"/rules/{rule.pk}/", form_data(channel_id="C0GONE", enabled=None))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.enabled is False and rule.channel_id == "C0GONE"


# --- Preview ----------------------------------------------------------------------------------------


def test_preview_runs_the_unsaved_draft_on_recent_events(owner_client, tenant, channels):
    store(tenant, object_id="11", document_number="INV-11", counterparty="Acme", amount="6000", currency="USD")
    store(tenant, object_id="12", document_number="INV-12", counterparty="Globex", amount="4000",
          currency="USD")
    response = owner_client.post("/rules/new/", {**form_data(), "preview": ""})
    assert response.status_code == 200
    preview = response.context["preview"]
    assert [m.event.document_number for m in preview.matches] == ["INV-11"]
    page = response.content.decode()
    assert "INV-11" in page and "INV-12" not in page and "#exec-alerts" in page
    assert "Of your last 2 events" in page
    assert not Rule.objects.for_tenant(tenant).exists()


def test_preview_of_an_edit_does_not_save_it(owner_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Keep me", min_amount=Decimal("5000"), channel_id="C0EXEC",
                       channel_name="exec-alerts")
    store(tenant, amount="100", currency="USD")
    response = owner_client.post(f"/rules/{rule.pk}/", {**form_data(name="Changed", min_amount=""),
                                                         "preview": ""})
    assert len(response.context["preview"].matches) == 1
    rule.refresh_from_db()
    assert rule.name == "Keep me"


def test_an_invalid_draft_is_not_previewed(owner_client, tenant, channels):
    response = owner_client.post("/rules/new/", {**form_data(channel_id="C0THEIRS"), "preview": ""})
    assert response.context["preview"] is None
    assert response.context["form"].errors == {"channel_id": ["Choose a channel of your Slack workspace."]}


# --- Enable, disable, delete ------------------------------------------------------------------------


def test_disable_and_enable(owner_client, tenant, channels):
    rule = RuleFactory(tenant=tenant)
    assert owner_client.post(f"/rules/{rule.pk}/toggle/", {"enabled": "0"}).status_code == 302
    rule.refresh_from_db()
    assert rule.enabled is False
    owner_client.post(f"/rules/{rule.pk}/toggle/", {"enabled": "1"})
    rule.refresh_from_db()
    assert rule.enabled is True
    changes = [e.details["changes"] for e in ActivityLog.objects.for_tenant(tenant).filter(action="rule.changed")]
    assert changes == [{"enabled": [True, False]}, {"enabled": [False, True]}]


def test_delete_asks_for_confirmation_first(owner_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Doomed")
    page = owner_client.get(f"/rules/{rule.pk}/delete/")
    assert page.status_code == 200 and "Delete this rule?" in page.content.decode()
    assert Rule.objects.filter(pk=rule.pk).exists()
    assert owner_client.post(f"/rules/{rule.pk}/delete/").status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert ActivityLog.objects.for_tenant(tenant).filter(action="rule.deleted", target="Doomed").exists()


# --- Tenancy and roles ------------------------------------------------------------------------------


def test_a_rule_of_another_tenant_is_404_everywhere(owner_client, other_tenant, channels):
    theirs = RuleFactory(tenant=other_tenant, name="Theirs", channel_id="C0THEIRS")
    for method, url, data in [
        ("get", f"/rules/{theirs.pk}/", None),
        ("post", f"/rules/{theirs.pk}/", form_data()),
        ("post", f"/rules/{theirs.pk}/toggle/", {"enabled": "0"}),
        ("get", f"/rules/{theirs.pk}/delete/", None),
        ("post", f"/rules/{theirs.pk}/delete/", {}),
    ]:
        response = getattr(owner_client, method)(url, data)
        assert response.status_code == 404, (method, url)
    theirs.refresh_from_db()
    assert (theirs.name, theirs.enabled) == ("Theirs", True)


def test_viewers_get_403_on_every_change(viewer_client, tenant, channels):
    rule = RuleFactory(tenant=tenant, name="Safe")
    for method, url, data in [
        ("get", "/rules/new/", None),
        ("post", "/rules/new/", form_data()),
        ("post", "/rules/new/", {**form_data(), "preview": ""}),
        ("post", f"/rules/{rule.pk}/", form_data(name="Hacked")),
        ("post", f"/rules/{rule.pk}/toggle/", {"enabled": "0"}),
        ("get", f"/rules/{rule.pk}/delete/", None),
        ("post", f"/rules/{rule.pk}/delete/", {}),
        ("post", "/rules/starter/", {"accounting_channel_id": "C0ACCOUNTS", "exec_channel_id": "C0EXEC",
                                     "exec_min_amount": "5000"}),
    ]:
        response = getattr(viewer_client, method)(url, data)
        assert response.status_code == 403, (method, url)
    rule.refresh_from_db()
    assert (rule.name, rule.enabled) == ("Safe", True)
    assert Rule.objects.for_tenant(tenant).count() == 1


def test_signed_out_visitors_are_sent_to_log_in(client):
    response = client.get("/rules/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_every_problem_of_a_form_shows_at_once(owner_client, tenant, channels):
    response = owner_client.post("/rules/new/", form_data(events=None, min_amount="100", max_amount="50",
                                                          channel_id="C0THEIRS"))
    assert response.context["form"].errors == {
        "events": ["Choose at least one event."],
        "max_amount": ["The maximum must not be below the minimum."],
        "channel_id": ["Choose a channel of your Slack workspace."],
    }
