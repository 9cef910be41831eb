from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "ml-connector"

    def ready(self):
        # Django's place for imports with side effects, once the apps are loaded: the pipeline's signal
        # receivers connect, and its Celery tasks register in every process (the web process rings them
        # by name, see connector.pipeline.doorbell).
        from connector.pipeline import receivers, tasks  # noqa: F401, PLC0415
