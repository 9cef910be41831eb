from django.apps import AppConfig


class FreshBooksConfig(AppConfig):
    name = "connector.freshbooks"
    label = "freshbooks"
    verbose_name = "FreshBooks"

    def ready(self):
        # Connects the receivers that tell every process's verifier cache when callbacks change.
        from connector.freshbooks import verifier_cache  # noqa: F401, PLC0415 - Django's place for receivers
