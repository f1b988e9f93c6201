"""`manage.py up` brings the whole platform up on its own data, says so in a few lines
(its children write to log files), and Ctrl-C or `manage.py stop` stops it all."""

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENT_TIMEOUT = 3  # seconds the launched proxy lets a client stall (MESS_CLIENT_TIMEOUT)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SUMMARY_END = "Ctrl-C here, or `make stop` (manage.py stop) from another shell, stops everything."


def read_until_summary(process, timeout=120):
    """The launcher's output up to the end of its summary, which it prints once all is up."""
    deadline = time.monotonic() + timeout
    output = b""
    # Bytes straight from the pipe: a buffered reader would hold lines select() cannot see.
    while SUMMARY_END.encode() not in output:
        if not select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"no summary within {timeout} s: {output.decode()}")
        chunk = os.read(process.stdout.fileno(), 65536)
        assert chunk, f"the launcher exited early: {output.decode()}"
        output += chunk
    return output.decode()


def health_status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/", timeout=10) as response:
        return response.status, json.load(response)


def platform_env(data_dir, **more):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    # A cache of its own: health's shared worker ping is not another test's.
    return {**env, "MESS_DATA_DIR": str(data_dir), "MESS_CLIENT_TIMEOUT": str(CLIENT_TIMEOUT),
            "CACHE_KEY_PREFIX": data_dir.name, **more}


def launch(data_dir, port, admin_password):
    return subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port), "--web-workers", "1"],
        cwd=ROOT, env=platform_env(data_dir, MESS_ADMIN_PASSWORD=admin_password),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def manage(data_dir, *args):
    """Another `manage.py` command on the same data folder, as from a second shell."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=platform_env(data_dir),
                          capture_output=True, text=True, timeout=90)


def ctrl_c(launcher, data_dir):
    launcher.send_signal(signal.SIGINT)


def manage_py_stop(launcher, data_dir):
    """`make stop`: returns once the platform has stopped."""
    stopped = manage(data_dir, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"Stopping MESS (pid {launcher.pid})" in stopped.stdout and "Stopped." in stopped.stdout
    assert launcher.poll() is not None, "manage.py stop returned before the platform had stopped"


def started_processes(launcher, data_dir):
    """Everything the launcher runs: its children, and the embedded database server."""
    processes = psutil.Process(launcher.pid).children(recursive=True)
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        processes.append(psutil.Process(int(postmaster.read_text().split()[0])))
    return processes


def up_then_stop(data_dir, port, admin_password, while_up=lambda port: None, stop=ctrl_c):
    """Start the platform, wait until it is healthy, run `while_up(port)`, stop it with
    `stop` (Ctrl-C by default). Returns the launcher's exit status, its output, the
    processes it had started and their command lines. Whatever happens, nothing is left
    running."""
    launcher = launch(data_dir, port, admin_password)
    processes = []
    try:
        output = read_until_summary(launcher)
        # Up means up: the web front and the worker answer when the summary says so.
        status, health = health_status(port)
        assert (status, health["status"]) == (200, "ok"), health
        while_up(port)
        processes = started_processes(launcher, data_dir)
        command_lines = " ".join(" ".join(p.cmdline()) for p in processes)
        stop(launcher, data_dir)
        output += launcher.communicate(timeout=60)[0]
        return launcher.returncode, output, processes, command_lines
    finally:
        if launcher.poll() is None:
            processes = processes or started_processes(launcher, data_dir)
            launcher.kill()
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()


@pytest.mark.broker
def test_up_serves_the_platform_says_so_last_and_ctrl_c_or_stop_stops_everything():
    data_dir = Path(f"/tmp/mess-up-{os.getpid()}")  # short: it holds unix sockets
    port = free_port()
    try:
        status, output, processes, names = up_then_stop(
            data_dir, port, admin_password="launcher-test-pw", while_up=slow_clients_cannot_hold_the_site)
        assert status == 0, output
        assert "gunicorn" in names and "celery" in names and "postgres" in names and "nginx" in names
        # With REDIS_URL set the launcher uses that Redis and starts none of its own.
        assert ("redis-server" in names) == (not os.environ.get("REDIS_URL"))
        gone, alive = psutil.wait_procs(processes, timeout=10)
        assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"
        starts_quietly_and_ends_with_the_summary(output, data_dir, port)
        assert "Login: admin / launcher-test-pw" in output
        assert not (data_dir / "mess.pid").exists()

        # A second start reuses the data: the admin created the first time is still
        # there, so the password asked for now is not used. `manage.py stop` stops it, from
        # another process, as `make stop` does; a third start beside it is refused.
        status, output, _, _ = up_then_stop(data_dir, port, admin_password="not-used-pw",
                                            while_up=lambda port: a_second_platform_is_refused(data_dir),
                                            stop=manage_py_stop)
        assert status == 0, output
        assert "Login: admin / launcher-test-pw" in output
        assert output.rstrip().endswith("Stopped.")
        assert manage(data_dir, "stop").stdout == f"MESS is not running from {data_dir}.\n"
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def starts_quietly_and_ends_with_the_summary(output, data_dir, port):
    """The children's output goes to log files: the terminal shows a few lines, then the
    summary (URL, logins, logs, how to stop), nothing after it until stopping."""
    started, stopping = output.split("Stopping...")
    before, summary = started.split("MESS is up:")
    assert len(before.strip().splitlines()) <= 5, before
    assert summary.startswith(f" http://127.0.0.1:{port}/")
    assert f"logs in {data_dir / 'logs'} (worker.log, web.log, proxy.log)" in summary
    assert summary.rstrip().endswith("Ctrl-C here, or `make stop` (manage.py stop) from another shell, stops everything.")
    assert "AVX512" not in output and "nothing to do" not in output
    logs = data_dir / "logs"
    assert "ready" in (logs / "worker.log").read_text()  # celery@... ready.
    assert "/api/v1/health/" in (logs / "web.log").read_text()  # gunicorn's access log
    assert (logs / "proxy.log").exists()


def a_second_platform_is_refused(data_dir):
    refused = manage(data_dir, "up", "--port", str(free_port()))
    assert refused.returncode == 1
    assert f"MESS already runs from {data_dir} (pid " in refused.stderr and "`make stop`" in refused.stderr


def stalled_upload(port, declared_bytes):
    """A multipart sign-in POST that declares `declared_bytes` of body and sends almost none."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall((
        f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {declared_bytes}\r\n\r\n--b\r\n"
    ).encode())
    return sock


def slow_clients_cannot_hold_the_site(port):
    """With more stalled uploads than web workers (1) open, the site still answers; a body
    declared over the limit is refused from its Content-Length; a stalled client is dropped
    after MESS_CLIENT_TIMEOUT. Gunicorn alone held a worker per stalled body until its 30 s
    worker timeout, then answered 500."""
    stalled = [stalled_upload(port, 999_999_999) for _ in range(4)]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/tracks/", timeout=10) as response:
            assert response.status == 200

        huge = stalled_upload(port, 10 * 1024**3)
        answer = huge.recv(4096).decode()
        huge.close()
        assert answer.startswith("HTTP/1.1 413"), answer
        assert '"code": "too_large"' in answer

        assert stalled[0].recv(4096) == b"", "a stalled upload was answered instead of dropped"
    finally:
        for sock in stalled:
            sock.close()
