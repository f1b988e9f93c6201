from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Analysis (MERT extraction, probing)"

    def ready(self):
        from analysis import signals

        signals.connect()
