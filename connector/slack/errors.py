"""Slack errors as a small taxonomy, each class carrying what the caller must do about it.

One table (ERROR_CLASSES) maps every error code Slack documents for chat.postMessage to a class; a code
not in the table is treated as our own bug (PayloadBug), so it is never retried unchanged.
"""

from connector.slack import constants


class SlackError(Exception):
    """A Slack call failed. `code` is Slack's error string (or a synthetic one for transport failures)."""

    def __init__(self, code: str, http_status: int | None = None):
        super().__init__(code)
        self.code = code
        self.http_status = http_status

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{self.code}{status}"


class RateLimited(SlackError):
    """Slow down: try again after `retry_after` seconds. `scope` says what is limited: the channel
    (chat.postMessage's 1 message/s per channel) or the whole team (workspace-wide limits)."""

    def __init__(self, code: str, http_status: int | None = None, *, retry_after: int | None = None,
                 scope: str = "channel"):
        super().__init__(code, http_status)
        self.retry_after = int(retry_after if retry_after is not None else constants.DEFAULT_RETRY_AFTER_SECONDS)
        self.scope = scope


class Transient(SlackError):
    """Slack or the network failed for now: retry with backoff."""


class OutcomeUnknown(Transient):
    """The request was sent but no answer came (timeout, reset) or Slack says part of it may have
    happened (`fatal_error`): a post may exist. Look for it before posting again."""


class InstallationDead(SlackError):
    """The workspace's token no longer works (revoked, uninstalled, missing a scope): hold everything
    for the tenant until someone reinstalls."""


class DestinationBroken(SlackError):
    """The channel cannot receive (deleted, archived, private without the bot): hold that route."""


class MessageGone(SlackError):
    """The message to edit (or reply under) is no longer there or can no longer be edited: its card is
    forgotten and the document's state goes out as a new card."""


class PayloadBug(SlackError):
    """Our request is wrong (bad blocks, too long, unknown argument): never retry it unchanged."""


# Used only internally by the client: the token expired (rotation on); refresh once and retry.
TOKEN_EXPIRED = "token_expired"

# Synthetic codes for failures that carry no Slack error string.
HTTP_SERVER_ERROR = "http_server_error"
NON_JSON_RESPONSE = "non_json_response"
CONNECTION_FAILED = "connection_failed"
NO_RESPONSE = "no_response"

_INSTALLATION_DEAD = (
    "invalid_auth", "token_revoked", "account_inactive", "not_authed", "missing_scope",
    "app_access_restricted", "ekm_access_denied", "not_allowed_token_type", "is_bot",
    # token_expired is refreshed once by the client; if it is still expired, the install needs a person.
    TOKEN_EXPIRED,
)
_DESTINATION_BROKEN = (
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "restricted_action_thread_locked", "team_not_found",
    "messages_tab_disabled", "cannot_reply_to_message", "no_permission",
)
_PAYLOAD_BUG = (
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long",
    "too_many_attachments", "too_many_contact_cards", "attachment_payload_limit_exceeded",
    "markdown_text_conflict", "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "invalid_arguments", "invalid_arg_name", "invalid_array_arg", "invalid_charset", "invalid_form_data",
    "invalid_post_type", "missing_post_type", "as_user_not_supported", "deprecated_endpoint",
    "method_deprecated", "unknown_method",
)
_TRANSIENT = (
    "service_unavailable", "request_timeout", "internal_error", "team_added_to_org", "org_login_required",
    HTTP_SERVER_ERROR, NON_JSON_RESPONSE, CONNECTION_FAILED,
)
_RATE_LIMITED = (
    # The reference lists these under "transient"; they get the more precise RateLimited class
    # (a RateLimited is retried after its wait, never counted as a failure).
    "ratelimited", "rate_limited",
    # "Soft-permanent, long back-off" in the reference: a RateLimited with a long wait is exactly that.
    "message_limit_exceeded",
)
_OUTCOME_UNKNOWN = (
    # "It's possible some aspect of the operation succeeded before the error was raised."
    "fatal_error",
    NO_RESPONSE,
)
# chat.update (and a reply's parent): the card's message was deleted or is out of the edit window.
_MESSAGE_GONE = ("message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found")
# Codes outside the chat.postMessage table that other methods we call return.
_OTHER_METHODS = {
    "channel_is_limited_access": DestinationBroken,  # conversations.info
    "invalid_refresh_token": InstallationDead,  # token rotation refused: the pair is gone
    "invalid_cursor": Transient,  # conversations.list: the cursor went stale; list again
}

ERROR_CLASSES: dict[str, type[SlackError]] = {
    **dict.fromkeys(_INSTALLATION_DEAD, InstallationDead),
    **dict.fromkeys(_DESTINATION_BROKEN, DestinationBroken),
    **dict.fromkeys(_PAYLOAD_BUG, PayloadBug),
    **dict.fromkeys(_TRANSIENT, Transient),
    **dict.fromkeys(_RATE_LIMITED, RateLimited),
    **dict.fromkeys(_OUTCOME_UNKNOWN, OutcomeUnknown),
    **dict.fromkeys(_MESSAGE_GONE, MessageGone),
    **_OTHER_METHODS,
}

# Waits for rate-limit codes that come without a Retry-After header.
_RATE_LIMIT_WAIT = {
    "rate_limited": (constants.APP_RATE_LIMITED_RETRY_SECONDS, "team"),
    "message_limit_exceeded": (constants.MESSAGE_LIMIT_RETRY_SECONDS, "team"),
}


def classify(code: str) -> type[SlackError]:
    """The class of a Slack error code; an unknown code is a PayloadBug (our bug: do not retry it)."""
    return ERROR_CLASSES.get(code, PayloadBug)


def error_for(code: str, http_status: int | None = None, *, retry_after: int | None = None,
              scope: str | None = None) -> SlackError:
    """An instance of the right class for `code`."""
    cls = classify(code)
    if cls is RateLimited:
        default_wait, default_scope = _RATE_LIMIT_WAIT.get(code, (constants.DEFAULT_RETRY_AFTER_SECONDS, "channel"))
        return RateLimited(code, http_status, retry_after=retry_after if retry_after is not None else default_wait,
                           scope=scope or default_scope)
    return cls(code, http_status)


# What each class means to the person looking at the Slack page.
_PLAIN_WORDS: dict[type[SlackError], str] = {
    RateLimited: "Slack asked us to slow down. Try again in a minute.",
    OutcomeUnknown: "Slack did not answer in time, so we cannot tell whether it worked. Check the channel "
                    "before trying again.",
    Transient: "Slack could not be reached or had a problem on its side. Try again in a few minutes.",
    InstallationDead: "Slack no longer accepts this app's access for your workspace (it was removed, revoked "
                      "or lacks a permission). Add ml-connector to Slack again to reconnect.",
    DestinationBroken: "Slack cannot post to that channel: it may have been deleted or archived, or it is "
                       "private and the app was not invited (type /invite @ml-connector in the channel).",
    PayloadBug: "Slack refused the request as malformed. This is a bug on our side; please tell support.",
    SlackError: "Slack returned an error.",
}

# A few codes deserve a more precise sentence.
_CODE_WORDS = {
    "missing_scope": "The app is missing a Slack permission it needs. Add ml-connector to Slack again to "
                     "grant it.",
    "channel_not_found": "Slack cannot find that channel. If it is private, invite the app to it first "
                         "(/invite @ml-connector); if it was deleted, pick another one.",
    "not_in_channel": "The app is not a member of that channel. Invite it with /invite @ml-connector.",
    "is_archived": "That channel is archived. Unarchive it or pick another one.",
    "message_limit_exceeded": "Your Slack workspace reached its message limit (free plan). Messages will "
                              "resume when Slack allows it.",
}


def describe(error: SlackError) -> str:
    """A sentence for non-engineers, ending with Slack's own code for support."""
    words = _CODE_WORDS.get(error.code)
    if words is None:
        words = next(text for cls, text in _PLAIN_WORDS.items() if isinstance(error, cls))
    return f"{words} (Slack said: {error.code})"
