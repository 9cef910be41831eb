"""Settings for bench/intake.py only: production settings plus a bare view to compare against."""

from connector.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
