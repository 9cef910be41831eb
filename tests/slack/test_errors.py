"""Every error code of the reference table maps to its class."""

import pytest

from connector.slack.errors import (
    DestinationBroken,
    InstallationDead,
    OutcomeUnknown,
    PayloadBug,
    RateLimited,
    SlackError,
    Transient,
    classify,
    describe,
    error_for,
)

# The table, row by row, as the reference lists it.
INSTALLATION_DEAD = ["invalid_auth", "token_revoked", "account_inactive", "not_authed", "missing_scope",
                     "app_access_restricted", "ekm_access_denied", "not_allowed_token_type", "is_bot"]
TOKEN_EXPIRED = ["token_expired"]
DESTINATION_BROKEN = ["channel_not_found", "not_in_channel", "is_archived", "restricted_action",
                      "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
                      "restricted_action_non_threadable_channel", "restricted_action_thread_locked",
                      "team_not_found", "messages_tab_disabled", "cannot_reply_to_message", "no_permission"]
PAYLOAD_BUG = ["msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long",
               "too_many_attachments", "too_many_contact_cards", "attachment_payload_limit_exceeded",
               "markdown_text_conflict", "invalid_metadata_format", "invalid_metadata_schema",
               "metadata_too_large", "invalid_arguments", "invalid_arg_name", "invalid_array_arg",
               "invalid_charset", "invalid_form_data", "invalid_post_type", "missing_post_type",
               "as_user_not_supported", "deprecated_endpoint", "method_deprecated", "unknown_method"]
TRANSIENT = ["ratelimited", "rate_limited", "service_unavailable", "request_timeout", "fatal_error",
             "internal_error", "team_added_to_org", "org_login_required"]
SOFT_PERMANENT = ["message_limit_exceeded"]

# Within "transient", the rate limits get RateLimited and fatal_error ("some aspect of the operation
# may have succeeded") gets OutcomeUnknown, a Transient that says: look before posting again.
EXPECTED = {
    **dict.fromkeys(INSTALLATION_DEAD, InstallationDead),
    # Refreshed once by the client; if it is still expired, a person must reinstall.
    **dict.fromkeys(TOKEN_EXPIRED, InstallationDead),
    **dict.fromkeys(DESTINATION_BROKEN, DestinationBroken),
    **dict.fromkeys(PAYLOAD_BUG, PayloadBug),
    **dict.fromkeys(TRANSIENT, Transient),
    "ratelimited": RateLimited,
    "rate_limited": RateLimited,
    "fatal_error": OutcomeUnknown,
    **dict.fromkeys(SOFT_PERMANENT, RateLimited),
}


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_every_reference_code_maps_to_its_class(code, expected):
    assert classify(code) is expected
    error = error_for(code)
    assert type(error) is expected and error.code == code


def test_every_reference_row_is_covered():
    rows = INSTALLATION_DEAD + TOKEN_EXPIRED + DESTINATION_BROKEN + PAYLOAD_BUG + TRANSIENT + SOFT_PERMANENT
    assert len(rows) == len(set(rows)) == len(EXPECTED) == 54


def test_outcome_unknown_is_retried_like_a_transient_error():
    assert issubclass(OutcomeUnknown, Transient)
    assert not issubclass(RateLimited, Transient)


def test_an_unknown_code_is_our_bug():
    assert classify("some_new_code_slack_invented") is PayloadBug
    assert type(error_for("some_new_code_slack_invented")) is PayloadBug


def test_rate_limits_without_retry_after_wait_by_their_kind():
    assert (error_for("ratelimited").retry_after, error_for("ratelimited").scope) == (1, "channel")
    assert (error_for("rate_limited").retry_after, error_for("rate_limited").scope) == (60, "team")
    assert (error_for("message_limit_exceeded").retry_after, error_for("message_limit_exceeded").scope) == (3600, "team")
    assert error_for("ratelimited", 429, retry_after=30).retry_after == 30


@pytest.mark.parametrize(("code", "words"), [
    ("token_revoked", "Add ml-connector to Slack again"),
    ("channel_not_found", "cannot find that channel"),
    ("is_archived", "archived"),
    ("service_unavailable", "Try again in a few minutes"),
    ("no_response", "cannot tell whether it worked"),
    ("ratelimited", "slow down"),
    ("invalid_blocks", "bug on our side"),
])
def test_every_class_has_plain_words_ending_with_slacks_code(code, words):
    text = describe(error_for(code))
    assert words in text
    assert text.endswith(f"(Slack said: {code})")


def test_a_bare_slack_error_still_has_words():
    assert describe(SlackError("odd")) == "Slack returned an error. (Slack said: odd)"
