from django.apps import AppConfig


class FreshBooksConfig(AppConfig):
    name = "connector.freshbooks"
    label = "freshbooks"
    verbose_name = "FreshBooks"

    def ready(self):
        # Connects the receivers that tell every process's verifier and connection caches of a change.
        from connector.freshbooks import connection_cache, verifier_cache  # noqa: F401, PLC0415 - receivers
