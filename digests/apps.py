from django.apps import AppConfig


class DigestsConfig(AppConfig):
    name = "digests"
    verbose_name = "Digests and scheduled checks"

    def ready(self):
        from digests import signals  # noqa: F401, PLC0415 - connects the receivers once the apps are loaded
