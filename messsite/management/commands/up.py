"""`manage.py up`: the whole platform in one command.

Starts the embedded PostgreSQL+pgvector and Redis (unless DATABASE_URL / REDIS_URL point
elsewhere), migrates, collects static files, makes sure an admin exists, then runs a
Celery worker and gunicorn until Ctrl-C, and stops everything it started, in order.
"""

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command

from analysis.services import active_space
from messsite.database import require_pgvector
from messsite.embedded import EmbeddedServices


def ensure_admin(username="admin"):
    """Create the first superuser; its password is kept in data/admin_password so every
    start can print it. An admin that already exists is left alone."""
    password_file = settings.DATA_DIR / "admin_password"
    User = get_user_model()
    if not User.objects.filter(username=username).exists():
        password = os.environ.get("MESS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, email="", password=password)
        password_file.write_text(password)
        password_file.chmod(0o600)
    return username, password_file.read_text() if password_file.exists() else "(unchanged; see data/admin_password)"


def worker_queues():
    # Model work needs torch; a host without it must not take tasks from the ml queue.
    return "ml,default" if importlib.util.find_spec("torch") else "default"


class Command(BaseCommand):
    help = "Start database, broker, a Celery worker and the web server; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, host, port, web_workers, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        services = EmbeddedServices()
        children = []
        try:
            services.start()
            require_pgvector()
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            if active_space():
                # Saved once here, the indices are memory-mapped by every web worker.
                call_command("build_indexes")
            username, password = ensure_admin()
            queues = worker_queues()
            children = [
                self.spawn("worker", [sys.executable, "-m", "celery", "-A", "messsite", "worker", "-Q", queues,
                                      "--concurrency", "1", "--loglevel", "INFO", "-n", "mess@%h"]),
                self.spawn("web", [sys.executable, "-m", "gunicorn", "messsite.wsgi", "--bind", f"{host}:{port}",
                                   "--workers", str(web_workers), "--access-logfile", "-"]),
            ]
            self.stdout.write(self.style.SUCCESS(
                f"\nMESS is up: http://{host}:{port}/   admin: http://{host}:{port}/admin/\n"
                f"Login: {username} / {password}\n"
                f"Worker queues: {queues}. Data under {settings.DATA_DIR}. Ctrl-C stops everything.\n"
            ))
            while not stopping:
                for name, process in children:
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with status {process.returncode}; stopping.")
                        stopping.append(True)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping...")
            for name, process in reversed(children):
                self.stop(name, process)
            services.stop()
            self.stdout.write("Stopped.")

    def spawn(self, name, command):
        # Own process group: Ctrl-C reaches only this launcher, which stops children in order.
        return name, subprocess.Popen(command, start_new_session=True)

    def stop(self, name, process, timeout=15):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {timeout} s; killing it.")
                process.kill()
                process.wait()
