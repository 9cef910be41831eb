from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "ml-connector"

    def ready(self):
        from connector.pipeline import receivers  # noqa: F401 - connects the pipeline's signal receivers
