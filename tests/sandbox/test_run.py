"""`make run`'s choice between the real providers and sandbox mode (sandbox/run.py), and what it sets."""

from sandbox.freshbooks import FreshBooksConfig
from sandbox.run import Plan, banner, busy_ports, plan, read_dotenv, sandbox_procfile
from sandbox.slack import SlackConfig

PROCFILE = "web: gunicorn connector.wsgi\nworker: celery -A connector worker\nbeat: celery -A connector beat\n"


def test_no_credentials_anywhere_is_sandbox_mode_pointed_at_both_stand_ins():
    chosen = plan({}, {}, python="/venv/bin/python")

    assert chosen.sandbox
    env = chosen.env
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert env["FRESHBOOKS_AUTH_URL"] == env["FRESHBOOKS_API_URL"] == "http://127.0.0.1:8101"
    assert (env["FRESHBOOKS_CLIENT_ID"], env["FRESHBOOKS_CLIENT_SECRET"]) == \
        (FreshBooksConfig.client_id, FreshBooksConfig.client_secret)
    assert env["SLACK_API_URL"] == "http://127.0.0.1:8102/api/"
    assert env["SLACK_OAUTH_URL"] == "http://127.0.0.1:8102/oauth/v2/authorize"
    assert (env["SLACK_CLIENT_ID"], env["SLACK_CLIENT_SECRET"]) == (SlackConfig.client_id, SlackConfig.client_secret)
    # The Slack stand-in signs its events with the secret the app checks, and sends them to the app.
    assert env["SLACK_SIGNING_SECRET"] == env["SANDBOX_SLACK_SIGNING_SECRET"]
    assert env["SANDBOX_SLACK_EVENTS_URL"] == "http://127.0.0.1:8000/slack/events/"
    assert chosen.extra_processes == {"freshbooks": "/venv/bin/python -m sandbox.freshbooks",
                                      "slack": "/venv/bin/python -m sandbox.slack"}


def test_sandbox_email_goes_to_the_log_and_the_mailbox_page_unless_a_backend_is_chosen():
    chosen = plan({}, {})

    assert chosen.env["EMAIL_BACKEND"] == "connector.core.mailbox.SandboxEmailBackend"
    assert chosen.env["EMAIL_FILE_PATH"].endswith("var/mailbox")
    assert "http://127.0.0.1:8000/sandbox/mailbox/" in banner(chosen)
    mine = plan({"EMAIL_FILE_PATH": "/tmp/mine"}, {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"})
    assert mine.env["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert mine.env["EMAIL_FILE_PATH"] == "/tmp/mine"


def test_ports_come_from_the_environment_and_the_app_urls_follow():
    chosen = plan({"PORT": "8010", "SANDBOX_FRESHBOOKS_PORT": "8111", "SANDBOX_SLACK_PORT": "8112"}, {})

    assert chosen.web_port == 8010 and sorted(chosen.ports.values()) == [8010, 8111, 8112]
    assert chosen.env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8010"
    assert chosen.env["SANDBOX_SLACK_EVENTS_URL"] == "http://127.0.0.1:8010/slack/events/"
    assert chosen.env["FRESHBOOKS_API_URL"] == "http://127.0.0.1:8111"
    assert chosen.env["SANDBOX_FRESHBOOKS_PORT"] == "8111" and chosen.env["SANDBOX_SLACK_PORT"] == "8112"
    assert chosen.env["CATCH_UP_INTERVAL_MINUTES"] == "2"  # catch-up seen within minutes in the sandbox
    assert "http://127.0.0.1:8111/" in banner(chosen) and "http://127.0.0.1:8112/" in banner(chosen)


def test_a_credential_in_the_environment_or_in_dotenv_means_the_real_providers():
    for environ, dotenv in (({"FRESHBOOKS_CLIENT_ID": "abc"}, {}), ({}, {"SLACK_CLIENT_ID": "123.456"}),
                            ({"FRESHBOOKS_CLIENT_ID": "abc", "SLACK_CLIENT_ID": "123.456"}, {})):
        chosen = plan(environ, dotenv)
        assert not chosen.sandbox and chosen.env == {} and chosen.extra_processes == {}


def test_real_mode_with_one_provider_says_which_one_cannot_be_connected():
    chosen = plan({"FRESHBOOKS_CLIENT_ID": "abc"}, {})
    assert [note for note in chosen.notes if "SLACK_CLIENT_ID" in note]
    assert "SLACK_CLIENT_ID" in banner(chosen) and "SANDBOX MODE" not in banner(chosen)


def test_empty_or_blank_credentials_are_no_credentials():
    assert plan({"FRESHBOOKS_CLIENT_ID": ""}, {"SLACK_CLIENT_ID": "  "}).sandbox


def test_sandbox_can_be_forced_on_or_off():
    assert plan({"SANDBOX": "true", "FRESHBOOKS_CLIENT_ID": "abc"}, {}).sandbox
    assert not plan({"SANDBOX": "0"}, {}).sandbox


def test_the_sandbox_procfile_is_the_procfile_plus_the_stand_ins():
    text = sandbox_procfile(plan({}, {}, python="py"), PROCFILE)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [*PROCFILE.strip().splitlines(), "freshbooks: py -m sandbox.freshbooks",
                     "slack: py -m sandbox.slack"]


def test_dotenv_is_read_like_honcho_reads_it(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# comment\nSLACK_CLIENT_ID='123.456'\nFRESHBOOKS_CLIENT_ID=\n")
    values = read_dotenv(path)
    assert values["SLACK_CLIENT_ID"] == "123.456" and not values.get("FRESHBOOKS_CLIENT_ID")
    assert not plan({}, values).sandbox
    assert read_dotenv(tmp_path / "missing") == {}


def test_a_port_in_use_is_named():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert busy_ports({"web (PORT)": port}) == [f"web (PORT) {port}"]
    assert isinstance(plan({}, {}), Plan)


def test_a_chosen_catch_up_interval_is_kept_in_sandbox_mode():
    assert plan({"CATCH_UP_INTERVAL_MINUTES": "0"}, {}).env["CATCH_UP_INTERVAL_MINUTES"] == "0"
    assert plan({}, {"CATCH_UP_INTERVAL_MINUTES": "7"}).env["CATCH_UP_INTERVAL_MINUTES"] == "7"


def test_the_dev_server_listens_on_loopback_unless_host_says_otherwise():
    assert plan({}, {}).host == "127.0.0.1"
    exposed = plan({"HOST": "0.0.0.0"}, {})
    assert exposed.host == "0.0.0.0" and exposed.env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert plan({}, {"HOST": "192.168.1.5"}).web_url == "http://192.168.1.5:8000"
