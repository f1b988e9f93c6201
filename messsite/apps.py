from django.apps import AppConfig


class MesssiteConfig(AppConfig):
    name = "messsite"
    verbose_name = "MESS platform"

    def ready(self):
        from messsite import security  # noqa: F401  (counts failed sign-ins on user_login_failed)
