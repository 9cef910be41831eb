from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing rules"

    def ready(self):
        # Connects the receiver that tells every process's rule cache when a rule changes.
        from routing import rule_cache  # noqa: F401, PLC0415 - Django's place for receivers
