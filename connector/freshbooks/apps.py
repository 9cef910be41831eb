from django.apps import AppConfig


class FreshBooksConfig(AppConfig):
    name = "connector.freshbooks"
    label = "freshbooks"
    verbose_name = "FreshBooks"
