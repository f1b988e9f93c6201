"""`manage.py up` brings the whole platform up on its own data and Ctrl-C stops it all."""

import os
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


def wait_for_health(url, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the launcher exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def launch(data_dir, port, admin_password):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(MESS_DATA_DIR=str(data_dir), MESS_ADMIN_PASSWORD=admin_password,
               MESS_CLIENT_TIMEOUT=str(CLIENT_TIMEOUT))
    return subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port), "--web-workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def started_processes(launcher, data_dir):
    """Everything the launcher runs: its children, and the embedded database server."""
    processes = psutil.Process(launcher.pid).children(recursive=True)
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        processes.append(psutil.Process(int(postmaster.read_text().split()[0])))
    return processes


def up_then_ctrl_c(data_dir, port, admin_password, while_up=lambda port: None):
    """Start the platform, wait until it is healthy, run `while_up(port)`, press Ctrl-C.
    Returns the launcher's exit status, its output, the processes it had started and their
    command lines. Whatever happens, nothing is left running."""
    launcher = launch(data_dir, port, admin_password)
    processes = []
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/api/v1/health", launcher) == 200
        while_up(port)
        processes = started_processes(launcher, data_dir)
        command_lines = " ".join(" ".join(p.cmdline()) for p in processes)
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=60)
        return launcher.returncode, output, processes, command_lines
    finally:
        if launcher.poll() is None:
            processes = processes or started_processes(launcher, data_dir)
            launcher.kill()
            for process in processes:
                process.kill()


@pytest.mark.broker
def test_up_serves_the_platform_and_ctrl_c_stops_everything():
    data_dir = Path(f"/tmp/mess-up-{os.getpid()}")  # short: it holds unix sockets
    port = free_port()
    try:
        status, output, processes, names = up_then_ctrl_c(
            data_dir, port, admin_password="launcher-test-pw", while_up=slow_clients_cannot_hold_the_site)
        assert status == 0, output
        assert "Login: admin / launcher-test-pw" in output
        assert "gunicorn" in names and "celery" in names and "postgres" in names and "nginx" in names
        # With REDIS_URL set the launcher uses that Redis and starts none of its own.
        assert ("redis-server" in names) == (not os.environ.get("REDIS_URL"))
        gone, alive = psutil.wait_procs(processes, timeout=10)
        assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"

        # A second start reuses the data: the admin created the first time is still
        # there, so the password asked for now is not used.
        status, output, _, _ = up_then_ctrl_c(data_dir, port, admin_password="not-used-pw")
        assert status == 0, output
        assert "Login: admin / launcher-test-pw" in output
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


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
