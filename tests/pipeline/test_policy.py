"""Retry timing: the product's schedule, and the setting the fault soak uses to shorten it."""

import importlib

from connector.pipeline import policy


def test_transient_slack_failures_follow_the_product_schedule_by_default():
    assert 4 <= policy.slack_retry_delay(1) <= 6  # about 5 s
    assert 24 <= policy.slack_retry_delay(2) <= 36  # about 30 s
    assert 3 * 3600 <= policy.slack_retry_delay(20) <= 5 * 3600  # then every 4 h


def test_the_retry_schedule_setting_replaces_it(settings):
    settings.PIPELINE_SLACK_RETRY_SCHEDULE = [2, 4]
    try:
        shortened = importlib.reload(policy)
        assert 1.6 <= shortened.slack_retry_delay(1) <= 2.4
        assert 3.2 <= shortened.slack_retry_delay(5) <= 4.8  # the last step repeats
    finally:
        settings.PIPELINE_SLACK_RETRY_SCHEDULE = []
        importlib.reload(policy)
    assert 4 <= policy.slack_retry_delay(1) <= 6
