"""What `manage.py up` and `manage.py demo` share: the embedded engines brought up and
ready (migrated, static files collected), the sign-in accounts, and serving (a Celery
worker and gunicorn behind nginx until Ctrl-C or `manage.py stop`, then everything
stopped in order). The children write to log files under DATA_DIR/logs, so the terminal
ends with a short summary: the URL, the logins, where the logs are, how to stop."""

import fcntl
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from catalog.permissions import ensure_curators_group
from messsite.database import require_pgvector
from messsite.embedded import EmbeddedServices
from messsite.front import web_commands

START_TIMEOUT = 120  # seconds the web front and the worker get to answer before the summary says so


@contextmanager
def platform_services():
    """The embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL point elsewhere),
    started and checked, the database migrated and static files collected; the engines
    started here are stopped on leaving. SIGTERM (`manage.py stop`) stops it all as Ctrl-C
    does, at any step. One platform per data folder: its pid is in pid_file() meanwhile."""
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    # A shell that starts a background job makes it ignore SIGINT, and Python keeps an
    # inherited "ignore": Ctrl-C (or a harness's SIGINT) must stop the platform regardless.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with _pid_file():
        services = EmbeddedServices()
        try:
            services.start()
            require_pgvector()
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            yield services
        finally:
            services.stop()


def pid_file():
    return settings.DATA_DIR / "mess.pid"


class AlreadyRunning(CommandError):
    pass


@contextmanager
def _pid_file():
    """Hold an exclusive lock on pid_file(), holding this process's pid, while the platform
    runs. The lock, not the file, says whether one runs: it goes with the process however
    that ends, so a stale file left by a killed launcher is never mistaken for a live one."""
    path = pid_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.seek(0)
            raise AlreadyRunning(f"MESS already runs from {settings.DATA_DIR} (pid {held.read().strip()}); "
                                 "`make stop` (manage.py stop) stops it.") from None
        held.truncate(0)
        held.write(str(os.getpid()))
        held.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def running_pid():
    """The pid of the platform running from this data folder, or None."""
    try:
        with open(pid_file()) as held:
            try:
                fcntl.flock(held, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return int(held.read().strip())
    except FileNotFoundError:
        pass
    return None


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
    them all. Once the front answers and the worker replies, the summary is printed, last.
    `logins`: (username, password, what it is for)."""
    queues = worker_queues()
    worker_name = f"mess@{socket.gethostname()}"
    logs = settings.DATA_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children = []
    try:
        with web_commands(host=host, port=port, web_workers=web_workers,
                          gunicorn_args=["--access-logfile", "-"]) as web:
            # Stopped inside the block: gunicorn removes its socket on the way out, and
            # fails (leaving its workers behind) once web_commands has removed the folder.
            try:
                children.append(_spawn("worker", [sys.executable, "-m", "celery", "-A", "messsite", "worker",
                                                  "-Q", queues, "--concurrency", "1", "--loglevel", "INFO",
                                                  "-n", worker_name], logs))
                children += [_spawn(name, command, logs, env) for name, command, env in web]
                late = _wait_until_up(host, port, worker_name, children)
                if late:
                    stderr.write(style.WARNING(f"Not answering after {START_TIMEOUT} s: {late}; see the logs."))
                if not _exited(children):
                    stdout.write(style.SUCCESS(
                        f"\nMESS is up: http://{host}:{port}/   admin: http://{host}:{port}/admin/\n"
                        f"{login_lines(logins)}"
                        f"Worker queues: {queues}. Data under {settings.DATA_DIR}; logs in {logs} "
                        f"({', '.join(f'{name}.log' for name, _, _ in children)}).\n"
                        "Ctrl-C here, or `make stop` (manage.py stop) from another shell, stops everything.\n"
                    ))
                while not (exited := _exited(children)):
                    time.sleep(0.5)
                for name, process, log in exited:
                    stderr.write(f"{name} exited with status {process.returncode}; stopping. "
                                 f"The end of {log}:\n{_tail(log)}")
            finally:
                stdout.write("Stopping...")
                for name, process, _ in reversed(children):
                    _stop(name, process, stderr)
    except KeyboardInterrupt:
        pass


def _exited(children):
    return [child for child in children if child[1].poll() is not None]


def _wait_until_up(host, port, worker_name, children):
    """Wait until the front answers HTTP and the worker a ping, or one of `children` exits,
    or START_TIMEOUT passes. Returns what did not answer in time ("" when all did)."""
    from messsite.celery import app as celery_app

    # A wildcard address is reached through the loopback.
    address = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    waiting = {"web": lambda: _answers_http(address, port),
               "worker": lambda: bool(celery_app.control.ping(destination=[worker_name], timeout=1))}
    deadline = time.monotonic() + START_TIMEOUT
    while waiting and time.monotonic() < deadline and not _exited(children):
        waiting = {name: check for name, check in waiting.items() if not check()}
        if waiting:
            time.sleep(0.5)
    return ", ".join(waiting)


def _answers_http(host, port):
    # Any answer from gunicorn will do (one refusing the Host header too); nginx answers
    # 502 (or 504) itself until gunicorn listens. Not health: its worker ping, cached
    # site-wide, would still say "no worker" for a while after the summary.
    try:
        with socket.create_connection((host, port), timeout=2) as connection:
            connection.sendall(b"HEAD /accounts/login/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
            status = connection.recv(16).split(b" ")[1:2]
            return bool(status) and status[0] not in (b"502", b"504")
    except OSError:
        return False


def _tail(log, lines=20):
    with log.open(errors="replace") as text:
        return "".join(deque(text, maxlen=lines))


def _as_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def login_lines(logins):
    return "".join(f"Login: {username} / {password}   ({role})\n" for username, password, role in logins)


def _spawn(name, command, logs, env=None):
    """(name, process, its log file). Own process group: Ctrl-C reaches only the launcher,
    which stops children in order. Each start begins its logs afresh."""
    log = logs / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, start_new_session=True, env={**os.environ, **(env or {})},
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    return name, process, log


def _stop(name, process, stderr, timeout=15):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stderr.write(f"{name} did not stop in {timeout} s; killing it.")
            process.kill()
            process.wait()
