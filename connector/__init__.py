"""ml-connector: FreshBooks events routed to Slack channels, paced, retried and audited."""

from connector.celery import app as celery_app

__all__ = ["celery_app"]
