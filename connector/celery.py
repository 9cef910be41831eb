"""The Celery application: Redis broker, JSON only, late acks (tasks are idempotent and id-based)."""

import os

from celery import Celery
from celery.signals import worker_ready
from kombu.utils.url import maybe_sanitize_url

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")

app = Celery("connector")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["connector.pipeline"])
app.autodiscover_tasks(["connector.pipeline"], related_name="schedules")
app.autodiscover_tasks(["connector.pipeline"], related_name="inbox")  # drain_inbox
# A worker runs the drains it schedules for later and the inbox slices it takes on its own pool, without a
# task message for each (connector/pipeline/local_pool.py).
app.steps["worker"].add("connector.pipeline.tasks:LocalPoolStep")


@worker_ready.connect
def _say_connected(sender, **kwargs):
    # Operators look for this line to know the worker reached the broker (URL shown without password).
    print(f"ml-connector worker connected to Redis at {maybe_sanitize_url(app.conf.broker_url)}", flush=True)
