from django.apps import AppConfig


class SlackConfig(AppConfig):
    name = "connector.slack"
    label = "slack"
    verbose_name = "Slack"

    def ready(self):
        # Connects the receiver that tells every process's installation cache when an installation changes.
        from connector.slack import installation_cache  # noqa: F401, PLC0415 - Django's place for receivers
