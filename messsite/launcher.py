"""What `manage.py up` and `manage.py demo` share: the embedded engines brought up and
ready (migrated, static files collected), the sign-in accounts, and serving (a Celery
worker and gunicorn behind nginx until Ctrl-C, then everything stopped in order)."""

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.permissions import ensure_curators_group
from messsite.database import require_pgvector
from messsite.embedded import EmbeddedServices
from messsite.front import web_commands


@contextmanager
def platform_services():
    """The embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL point elsewhere),
    started and checked, the database migrated and static files collected; the engines
    started here are stopped on leaving. SIGTERM stops it all as Ctrl-C does, at any step."""
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    # A shell that starts a background job makes it ignore SIGINT, and Python keeps an
    # inherited "ignore": Ctrl-C (or a harness's SIGINT) must stop the platform regardless.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    services = EmbeddedServices()
    try:
        services.start()
        require_pgvector()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        yield services
    finally:
        services.stop()


def ensure_account(username, create, password_env):
    """Create the account with `create(User, password)` unless it exists; its password
    (from `password_env`, else random) is kept in DATA_DIR/<username>_password so every
    start can print it. An account that already exists is left alone."""
    password_file = settings.DATA_DIR / f"{username}_password"
    User = get_user_model()
    if not User.objects.filter(username=username).exists():
        password = os.environ.get(password_env) or secrets.token_urlsafe(12)
        create(User, password)
        password_file.write_text(password)
        password_file.chmod(0o600)
    if password_file.exists():
        return username, password_file.read_text()
    return username, f"(unchanged; see {password_file})"


def ensure_admin(username="admin"):
    """The first superuser (password from MESS_ADMIN_PASSWORD, else random)."""
    return ensure_account(
        username, lambda User, password: User.objects.create_superuser(username, email="", password=password),
        "MESS_ADMIN_PASSWORD",
    )


def ensure_curator(username="curator"):
    """A staff account in the Curators group (catalog/permissions.py): uploads, datasets,
    extraction and probe runs, pinned aspects; no superuser rights."""

    def create(User, password):
        user = User.objects.create_user(username, password=password, is_staff=True)
        user.groups.add(ensure_curators_group())

    return ensure_account(username, create, "MESS_CURATOR_PASSWORD")


def worker_queues():
    # Model work needs torch; a host without it must not take tasks from the ml queue.
    return "ml,default" if importlib.util.find_spec("torch") else "default"


def serve(stdout, stderr, *, host, port, web_workers, logins, style):
    """Run a Celery worker and the web front (gunicorn behind nginx, messsite/front.py)
    until Ctrl-C (or SIGTERM, see platform_services) or the exit of any of them, then stop
    them all. `logins`: (username, password, what it is for)."""
    queues = worker_queues()
    children = []
    try:
        with web_commands(host=host, port=port, web_workers=web_workers,
                          gunicorn_args=["--access-logfile", "-"]) as web:
            children.append(_spawn("worker", [sys.executable, "-m", "celery", "-A", "messsite", "worker",
                                              "-Q", queues, "--concurrency", "1", "--loglevel", "INFO",
                                              "-n", "mess@%h"]))
            children += [_spawn(name, command, env) for name, command, env in web]
            stdout.write(style.SUCCESS(
                f"\nMESS is up: http://{host}:{port}/   admin: http://{host}:{port}/admin/\n"
                f"{login_lines(logins)}"
                f"Worker queues: {queues}. Data under {settings.DATA_DIR}. Ctrl-C stops everything.\n"
            ))
            while not (exited := [(name, process) for name, process in children if process.poll() is not None]):
                time.sleep(0.5)
            for name, process in exited:
                stderr.write(f"{name} exited with status {process.returncode}; stopping.")
    except KeyboardInterrupt:
        pass
    finally:
        stdout.write("Stopping...")
        for name, process in reversed(children):
            _stop(name, process, stderr)


def _as_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def login_lines(logins):
    return "".join(f"Login: {username} / {password}   ({role})\n" for username, password, role in logins)


def _spawn(name, command, env=None):
    # Own process group: Ctrl-C reaches only the launcher, which stops children in order.
    return name, subprocess.Popen(command, start_new_session=True, env={**os.environ, **(env or {})})


def _stop(name, process, stderr, timeout=15):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stderr.write(f"{name} did not stop in {timeout} s; killing it.")
            process.kill()
            process.wait()
