from django.apps import AppConfig


class SlackConfig(AppConfig):
    name = "connector.slack"
    label = "slack"
    verbose_name = "Slack"
