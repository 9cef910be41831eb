"""In a real browser: sign up, the setup checklist, settings, an API token, an invitation accepted by a new
member; screenshots of the main pages at desktop and phone width; no console error on any page."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import Delivery
from tenants.models import Membership, Role, Tenant
from tests.browser.conftest import DESKTOP, PHONE, overflowing
from tests.factories import delivery, inbound_event
from tests.mail import signup_link_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-unusual-passphrase"


def _sign_up(page, *, business="Blue Sky Bakery", email="owner@bluesky.example"):
    page.goto("/accounts/signup/")
    page.get_by_label("Business name").fill(business)
    page.get_by_label("Email").fill(email)
    assert page.locator("input[type=password]").count() == 0  # chosen behind the emailed link, not here
    page.get_by_role("button", name="Email me a sign-up link").click()
    page.wait_for_url("**/signup/check-email/")
    [sent] = [m for m in mail.outbox if m.to == [email]]  # the live server runs in this process
    page.goto(signup_link_path(sent.body))
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Finish signing up").click()
    page.wait_for_url("**/dashboard/")


def _log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def _fits_width(page) -> bool:
    sticking_out = overflowing(page)
    assert sticking_out == [], sticking_out
    return True


def _shoot_page(page, console, shoot, path, name, viewport_name):
    """Opens a page with data to show (rules, activity), checks it renders cleanly, and screenshots it."""
    response = page.goto(path)
    assert response.status == 200, f"{path} answered {response.status}"
    console.assert_clean(path)
    shoot(page, f"{name}-{viewport_name}")


def test_sign_up_settings_token_and_invitation(new_page, shoot, live_server):
    page, console = new_page(DESKTOP)

    # Given a new business signing up
    _sign_up(page)
    console.assert_clean("sign up")

    # Then the dashboard shows the setup checklist, nothing done yet, the first step's button first
    checklist = page.locator("#onboarding")
    assert checklist.is_visible()
    assert "0 of 5 done" in checklist.inner_text()
    steps = checklist.locator("[data-step]")
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == \
        ["freshbooks", "slack", "callbacks", "rule", "test_message"]
    assert checklist.get_by_role("button", name="Connect FreshBooks").is_visible()
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text() == "Dashboard"
    shoot(page, "dashboard-new-desktop")

    # When the owner opens Settings from the navigation
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.wait_for_url("**/accounts/settings/")
    console.assert_clean("settings")
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text() == "Settings"

    # And creates an API token: the key is shown once, in its own box, and the copy button copies it
    page.get_by_label("Token name").fill("reporting script")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url("**/accounts/settings/**")
    key = page.locator("#new-api-key").inner_text().strip()
    assert len(key) >= 40
    page.locator("[data-copy-target=new-api-key]").click()
    page.wait_for_function("document.querySelector('[data-copy-target=new-api-key]').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == key
    console.assert_clean("settings after creating a token")
    page.reload()
    assert page.locator("#new-api-key").count() == 0, "the key must be shown only once"

    # And invites a member as admin
    page.locator("#invite-form").get_by_label("Email address").fill("ada@bluesky.example")
    page.locator("#invite-form").get_by_label("Role").select_option("admin")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_url("**/accounts/settings/**")
    assert "Invitation sent to ada@bluesky.example" in page.locator(".flash").inner_text()
    assert "ada@bluesky.example" in page.locator("#members").inner_text()
    console.assert_clean("settings after inviting")
    shoot(page, "settings-desktop")

    # Then the invited person follows the emailed link, chooses a password and lands in the business as admin
    link = re.search(r"https?://\S+/accounts/invitations/\S+/", mail.outbox[-1].body).group(0)
    path = "/" + link.split("/", 3)[3]
    guest, guest_console = new_page(PHONE)
    guest.goto(path)
    assert "Join Blue Sky Bakery" in guest.locator("h1").inner_text()
    guest.get_by_label("Choose a password").fill(PASSWORD)
    guest.get_by_role("button", name="Create my account and join").click()
    guest.wait_for_url("**/dashboard/")
    guest_console.assert_clean("invitation accepted")
    assert "Blue Sky Bakery" in guest.locator("h1").inner_text()
    tenant = Tenant.objects.get(name="Blue Sky Bakery")
    assert Membership.objects.get(tenant=tenant, user__email="ada@bluesky.example").role == Role.ADMIN

    # And the link does not work a second time
    guest.goto(path)
    assert "used already" in guest.locator("h1").inner_text()

    # Screens at phone width: everything fits, the tables scroll inside their cards
    owner_phone, phone_console = new_page(PHONE)
    _log_in(owner_phone, "owner@bluesky.example")
    assert _fits_width(owner_phone)
    phone_console.assert_clean("dashboard (phone)")
    shoot(owner_phone, "dashboard-new-phone")
    owner_phone.goto("/accounts/settings/")
    assert _fits_width(owner_phone)
    phone_console.assert_clean("settings (phone)")
    shoot(owner_phone, "settings-phone")

    # The account menu opens, fits the phone and closes with Escape
    owner_phone.locator(".account-menu summary").click()
    menu = owner_phone.locator(".menu-panel")
    assert menu.is_visible() and menu.get_by_role("button", name="Log out").is_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    owner_phone.screenshot(path=str(shoot.folder / "account-menu-phone.png"))
    owner_phone.keyboard.press("Escape")
    assert not menu.is_visible()

    # Destructive actions ask first: making a new webhook URL shows what happens, and Cancel keeps it
    before = Tenant.objects.get(name="Blue Sky Bakery").webhook_token_hash
    owner_phone.get_by_role("button", name="Make a new webhook URL…").click()
    owner_phone.wait_for_url("**/webhook-token/rotate/")
    assert "stops working at once" in owner_phone.locator("main").inner_text()
    phone_console.assert_clean("confirmation (phone)")
    shoot(owner_phone, "confirm-phone")
    owner_phone.get_by_role("button", name="Cancel, keep it").click()
    owner_phone.wait_for_url("**/accounts/settings/")
    assert Tenant.objects.get(name="Blue Sky Bakery").webhook_token_hash == before


def test_dashboard_with_a_month_of_activity(new_page, shoot, live_server):
    # Given a business with a month of events and messages, two of them held by an archived channel
    page, console = new_page(DESKTOP)
    _sign_up(page, business="Harbour Accounting", email="owner@harbour.example")
    tenant = Tenant.objects.get(name="Harbour Accounting")
    now = timezone.now()
    for day in range(30):
        at = now - timedelta(days=day, hours=1)
        for _ in range((day * 7) % 5 + 1):
            delivery(tenant=tenant, at=at, counterparty=f"Client {day}", document_number=f"INV-{1000 + day}")
        if day % 6 == 0:
            delivery(tenant=tenant, at=at, status=Delivery.Status.FAILED, held_reason="", channel_name="exec-alerts")
        inbound_event(tenant=tenant, name="expense.create", at=at, status="ignored")
    for _ in range(2):
        delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="is_archived", channel_name="old-sales",
                 event_name="payment.create", counterparty="Northwind Traders", amount="6000.00")

    # When the owner opens the dashboard
    page.goto("/dashboard/")
    console.assert_clean("dashboard with data")

    # Then the held messages say why and offer the one fix, the charts are drawn, the latest messages listed
    problems = page.locator("#problems-panel")
    assert "#old-sales is archived" in problems.inner_text()
    fix = problems.get_by_role("button", name=re.compile("pick another in the rule"))
    assert fix.get_attribute("href") == "/rules/?channel=C0ACCOUNTS"  # the rules posting to that channel
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart rect").count() > 30
    assert page.locator("#latest-panel tbody tr").count() == 10
    page.locator("details.data-table summary").first.click()
    assert page.locator("details.data-table table").first.is_visible()
    shoot(page, "dashboard-desktop")

    phone, phone_console = new_page(PHONE)
    _log_in(phone, "owner@harbour.example")
    assert _fits_width(phone)
    phone_console.assert_clean("dashboard with data (phone)")
    shoot(phone, "dashboard-phone")

    # The rules and activity pages, on both screens
    for viewport_name, p, c in (("desktop", page, console), ("phone", phone, phone_console)):
        _shoot_page(p, c, shoot, "/rules/", "rules", viewport_name)
        _shoot_page(p, c, shoot, "/activity/", "activity", viewport_name)


def test_error_page_and_login_look_like_the_rest(new_page, shoot, live_server):
    page, console = new_page(PHONE)
    page.goto("/accounts/login/")
    console.assert_clean("login")
    assert _fits_width(page)
    shoot(page, "login-phone")
    response = page.goto("/no-such-page/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    shoot(page, "not-found-phone")


def test_sign_up_proposes_the_browsers_time_zone_and_pages_use_it(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, timezone_id="Europe/Paris")
    try:
        page = context.new_page()
        page.goto("/accounts/signup/")
        assert page.get_by_label("Time zone").input_value() == "Europe/Paris"
        _sign_up(page, business="Paris Bakery", email="owner@paris.example")
        tenant = Tenant.objects.get(name="Paris Bakery")
        assert tenant.time_zone == "Europe/Paris"
        at = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
        delivery(tenant=tenant, at=at)
        page.goto("/activity/")
        when = page.locator("main table tbody tr time").first
        paris = at.astimezone(ZoneInfo("Europe/Paris"))
        assert when.inner_text() == f"{paris.day} {paris:%b %Y, %H:%M %Z}"  # e.g. 28 Nov 2026, 10:04 CET
        assert when.get_attribute("datetime") == at.isoformat()
    finally:
        context.close()


def test_one_click_connect_reaches_the_real_providers_sign_in(new_page):
    """With real credentials (not the sandbox), each checklist button lands on FreshBooks' or Slack's own
    authorize page in one click: the site's CSP lets the posted form be redirected there. Their pages are
    answered here, so nothing leaves the machine."""
    page, console = new_page(DESKTOP)
    _sign_up(page)
    reached = []

    def provider_page(route):
        reached.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Provider sign-in</h1>")

    page.route(re.compile(r"^https://(auth\.freshbooks\.com|slack\.com)/"), provider_page)
    for step, button, authorize in (("freshbooks", "Connect FreshBooks", "https://auth.freshbooks.com/oauth/authorize"),
                                    ("slack", "Add to Slack", "https://slack.com/oauth/v2/authorize")):
        page.goto("/dashboard/")
        page.locator(f"#onboarding [data-step={step}]").get_by_role("button", name=button).click()
        page.wait_for_url(f"{authorize}?**")
        assert "Provider sign-in" in page.locator("h1").inner_text()
    assert [url.split("?")[0] for url in reached] == ["https://auth.freshbooks.com/oauth/authorize",
                                                      "https://slack.com/oauth/v2/authorize"]
    assert all("client_id=" in url and "state=" in url for url in reached)
    console.assert_clean("dashboard with one-click connects")
