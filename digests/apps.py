from django.apps import AppConfig


class DigestsConfig(AppConfig):
    name = "digests"
    verbose_name = "Digests and scheduled checks"

    def ready(self):
        from digests import signals  # noqa: F401 - connects the receivers (Django's documented place for it)
