from django.apps import AppConfig


class MesssiteConfig(AppConfig):
    name = "messsite"
    verbose_name = "MESS platform"
