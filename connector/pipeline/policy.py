"""Every limit, timeout and retry schedule of the pipeline, in one place."""

import random
from datetime import timedelta

from django.conf import settings

from connector.slack.constants import HTTP_TIMEOUT_SECONDS

# Slack allows about one chat.postMessage per second per channel.
CHANNEL_INTERVAL_MS = 1000
# A slot taken is held until the post's answer restarts it (slot_restart), for at most this long: a post on
# a busy machine may reach Slack more than CHANNEL_INTERVAL_MS after its slot was taken (its claim, its
# request), and the next post must not reach Slack less than an interval after it. A drain that took the
# slot and posted nothing gives it back (slot_give_back); one that died holds its channel this long.
SLOT_HOLD_MS = CHANNEL_INTERVAL_MS + HTTP_TIMEOUT_SECONDS * 1000
# Slack's workspace-wide cap is unpublished (slack-api.md §2); this coarse per-team cap bounds a runaway
# workspace while letting 100 busy channels of one workspace post at their full 1/s. Slack's own 429s,
# whatever their cause, still park the channel they answer.
TEAM_MAX_POSTS_PER_SECOND = 100
# Card edits: chat.update is Tier 3 (about 50 a minute per workspace and method, slack-api.md §7), so every
# worker draws from one budget per workspace (Redis); each card is edited at most once per interval and the
# changes in between are coalesced into its one pending edit (the latest state wins).
EDITS_PER_MINUTE = settings.SLACK_EDITS_PER_MINUTE
CARD_EDIT_INTERVAL = timedelta(seconds=settings.CARD_EDIT_INTERVAL_SECONDS)
# A reply whose card is not posted yet waits this long before looking again (its card is usually next).
REPLY_WAITS_FOR_CARD = 2.0
# Looking a reply up in its thread (conversations.replies) after an unknown outcome: at most this often per
# workspace, since apps outside the Marketplace get one such request a minute (slack-api.md §7).
THREAD_LOOKUP_INTERVAL_MS = 60_000
# Retry-After when Slack sends a 429 without one.
DEFAULT_RETRY_AFTER = 1

# Transient Slack failures: about 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 4 h ...
# (settings.PIPELINE_SLACK_RETRY_SCHEDULE replaces it, for the fault soak only).
SLACK_RETRY_SCHEDULE = (getattr(settings, "PIPELINE_SLACK_RETRY_SCHEDULE", None)
                        or [5, 30, 120, 600, 1800, 3600, 7200, 14400])
# ... until this long after the first try; then the delivery fails.
SLACK_GIVE_UP_AFTER = timedelta(hours=24)
RETRY_JITTER = 0.2  # +/- 20%, so retries of many deliveries do not arrive together

# FreshBooks fetch failures (rate limited, 5xx, timeouts) when processing an inbound event.
FRESHBOOKS_RETRY_SCHEDULE = [10, 60, 300, 900, 3600, 3600 * 3, 3600 * 6]
FRESHBOOKS_GIVE_UP_AFTER = timedelta(hours=48)

# A worker claims an inbound event or a delivery for this long; if it dies, the sweep takes it back after.
CLAIM_LEASE = timedelta(seconds=120)
# The sweep leaves freshly queued work alone this long (its task is probably still on the way): 60 s unless
# settings.PIPELINE_SWEEP_GRACE_SECONDS says otherwise (the end-to-end stacks shorten it).
SWEEP_GRACE = timedelta(seconds=getattr(settings, "PIPELINE_SWEEP_GRACE_SECONDS", 60))
# How far back to look in channel history for a post whose outcome was unknown.
HISTORY_LOOKBACK = timedelta(hours=24)
# The longest a task waits as a Celery ETA. The Redis transport hands an unacknowledged task to another
# worker after its visibility timeout (CELERY_BROKER_TRANSPORT_OPTIONS, 600 s), so a longer ETA would be
# run several times and kept in several workers' memory. Longer waits are cut into steps of this (drains)
# or left to the sweep, which reads from the database when the work is due (inbound events).
MAX_TASK_COUNTDOWN = 300
# Held channels are probed (conversations.info) at most this often.
CHANNEL_PROBE_INTERVAL = timedelta(minutes=5)


def jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)


def slack_retry_delay(attempt_number: int) -> float:
    """Delay before the next try after the `attempt_number`-th failed one (1-based)."""
    index = min(attempt_number - 1, len(SLACK_RETRY_SCHEDULE) - 1)
    return jittered(SLACK_RETRY_SCHEDULE[index])


def freshbooks_retry_delay(attempt_number: int) -> float:
    index = min(attempt_number - 1, len(FRESHBOOKS_RETRY_SCHEDULE) - 1)
    return jittered(FRESHBOOKS_RETRY_SCHEDULE[index])
# "Check now" on held work: at most once per this interval per tenant and channel (or per provider).
CHECK_NOW_INTERVAL = timedelta(minutes=1)
# A channel's post waits for the tenant's news told before it that is still being read (workers read events
# in parallel, and a later one can be recorded first), so that a channel shows its news in FreshBooks' order.
# Not forever: an earlier event received this long ago, claimed this many times without being read (a
# worker died on it each time), or whose read has gone on this long (longer than FreshBooks' timeouts: its
# worker died, or the read failed and waits for the sweep) no longer holds later news back.
ORDER_WAIT = timedelta(minutes=10)
ORDER_WAIT_CLAIMS = 3
ORDER_WAIT_READING = timedelta(seconds=30)
