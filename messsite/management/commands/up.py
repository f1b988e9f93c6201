"""`manage.py up`: the whole platform in one command.

Starts the embedded PostgreSQL+pgvector and Redis (unless DATABASE_URL / REDIS_URL point
elsewhere), migrates, collects static files, makes sure an admin exists, then runs a
Celery worker and the web server (gunicorn behind nginx) until Ctrl-C, and stops
everything it started, in order.
"""

from django.core.management import BaseCommand, call_command

from analysis.services import active_space
from messsite.launcher import ensure_admin, platform_services, serve


class Command(BaseCommand):
    help = "Start database, broker, a Celery worker and the web server; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, host, port, web_workers, **options):
        try:
            with platform_services():
                if active_space():
                    # Saved once here, the indices are memory-mapped by every web worker.
                    call_command("build_indexes")
                username, password = ensure_admin()
                serve(self.stdout, self.stderr, host=host, port=port, web_workers=web_workers,
                      logins=[(username, password, "administrator")], style=self.style)
        except KeyboardInterrupt:
            pass
        self.stdout.write("Stopped.")
