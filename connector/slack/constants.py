"""Every limit, timeout and window of the Slack side, in one place (each with why it has its value)."""

# Seconds before a Slack Web API call gives up. The SDK default is 30 s; a delivery worker must not sit
# that long on one post (Celery soft limit is 60 s and a call may be preceded by a token refresh).
HTTP_TIMEOUT_SECONDS = 10

# Bot scopes requested by "Add to Slack". history scopes let delivery look for a message it may have
# posted already after an ambiguous failure (timeout after sending); commands adds /freshbooks.
BOT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "commands",
)

# Rotated bot tokens live 12 hours; refresh once less than this is left, so a token never expires
# between being handed out and being used by a slow call.
TOKEN_REFRESH_MARGIN_MINUTES = 30

# How long an OAuth state issued by "Add to Slack" stays valid (Bolt's default is 600 s too).
OAUTH_STATE_TTL_SECONDS = 600

# conversations.list is Tier 2 (about 20 calls a minute per workspace): keep the list briefly.
CHANNEL_LIST_CACHE_SECONDS = 120
# Page size for conversations.list / conversations.history ("must be an integer under 1000"); 200 is
# what Slack's pagination guide recommends.
PAGE_LIMIT = 200
# Stop paginating after this many pages (a runaway cursor must not keep a worker forever):
# 50 x 200 = 10,000 channels, or 10,000 messages of history since a delivery's first attempt.
MAX_PAGES = 50

# A 429 without a Retry-After header: wait this long (the SDK's own fallback is 1 s plus jitter).
DEFAULT_RETRY_AFTER_SECONDS = 1
# `rate_limited` (no HTTP 429): "Application has posted too many messages". Slack gives no wait time.
APP_RATE_LIMITED_RETRY_SECONDS = 60
# `message_limit_exceeded`: a free workspace's usage limit. Soft-permanent: back off for a long time.
MESSAGE_LIMIT_RETRY_SECONDS = 3600

# Events API: Slack retries an event it thinks was not acknowledged (up to 3 times, over about an hour);
# remember event ids for a day so a retry is answered without doing anything twice.
EVENT_DEDUPE_SECONDS = 24 * 3600
# Events are small JSON documents; anything bigger is not from Slack.
MAX_EVENT_BODY_BYTES = 256 * 1024

# The metadata event type that tags every post with its delivery id (see slack_find_posted).
DELIVERY_METADATA_TYPE = "ml_connector_delivery"
