"""End-to-end HTTP load on GET /api/v1/tracks/{id}/similar/ under gunicorn, loopback only.

Gunicorn is started the way `manage.py up` starts it (sync workers), with throttling off
(API_THROTTLE_ANON), against the index file the bench saved, which every worker maps.
The client is closed-loop: `clients` threads, each with its own http.client connection
(re-opened whenever a sync worker closes it), send requests back to back for `seconds`.
It runs on the same 2 cores as the server, so its CPU is taken from the workers.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
import psutil

PATH = "/api/v1/tracks/{}/similar/?layer=0&k=10"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load(port, track_ids, clients, seconds, rate=None, seed=0, path=PATH):
    """(p50 ms, p99 ms, requests/s, errors) of `clients` clients for `seconds`, each asking
    `path` with a random track id from `track_ids` in its "{}".

    Without `rate` the clients are closed-loop: each sends its next request as soon as
    the last is answered, so they measure capacity and latency under saturation. With
    `rate` (requests/s offered by all clients together) each client sends on a fixed
    schedule and latency counts from the scheduled time, so a late answer is not hidden
    by sending the next request late (no coordinated omission)."""
    times, errors = [], []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(n):
        rng = np.random.default_rng(seed + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        start.wait()
        interval = clients / rate if rate else 0.0
        scheduled = time.perf_counter() + interval * n / clients
        while time.perf_counter() < deadline[0]:
            asked = path.format(int(track_ids[rng.integers(len(track_ids))]))
            if rate:
                time.sleep(max(0.0, scheduled - time.perf_counter()))
                began, scheduled = scheduled, scheduled + interval
            else:
                began = time.perf_counter()
            try:
                conn.request("GET", asked)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
                    continue
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - began)
        conn.close()
        times.extend(mine)
        errors.append(bad)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - began
    times = np.array(times) * 1e3
    if not len(times):
        return float("nan"), float("nan"), 0.0, sum(errors)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99)), len(times) / elapsed, sum(errors)


def memory(pids):
    """[(rss, uss, pss) MB] of each process."""
    out = []
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        out.append((info.rss / 2**20, info.uss / 2**20, info.pss / 2**20))
    return out


def run(track_ids, workers=2, loads=((1, 5, None), (50, 15, None)), log=print):
    """Start gunicorn, warm every worker's index, run each (clients, seconds, rate) load
    (see `load`; a rate below 1 is that fraction of the capacity the last closed-loop load
    measured). Returns ([(clients, seconds, rate, p50, p99, rps, errors)], [(rss, uss, pss)
    per worker])."""
    with gunicorn(workers) as (port, server):
        status, body = get(port, PATH.format(int(track_ids[0])))
        if status != 200:
            raise RuntimeError(f"similar endpoint answered {status}: {body[:300]!r}")
        warm(port, track_ids, workers)
        results, capacity = [], None
        for clients, seconds, rate in loads:
            if rate is not None and rate < 1:
                rate = round(rate * capacity)
            p50, p99, rps, errors = load(port, track_ids, clients, seconds, rate)
            capacity = rps if rate is None else capacity
            results.append((clients, seconds, rate, p50, p99, rps, errors))
            log(f"http {clients} clients {seconds} s rate {rate}: p50 {p50:.1f} ms p99 {p99:.1f} ms "
                f"{rps:.0f} req/s, {errors} errors")
        pids = [c.pid for c in psutil.Process(server.pid).children()]
        return results, memory(pids)


# Throttling off: the load is one client address asking far past the anonymous rate.
UNTHROTTLED = {"API_THROTTLE_ANON": "1000000/min", "API_THROTTLE_USER": "1000000/min"}


def warm(port, track_ids, workers):
    """Each worker maps the saved index in a background thread on its first search; until
    then pgvector answers. Warm up until every status answer shows layer 0 loaded."""
    for _ in range(60):
        load(port, track_ids, 4, 1.0, seed=10_000)
        answers = [json.loads(get(port, "/api/v1/index/status/")[1]) for _ in range(6 * workers)]
        if all(any(i["layer"] == 0 and i["size"] for i in a["indices"]) for a in answers):
            return
    raise RuntimeError("the web workers did not load the index")


@contextmanager
def gunicorn(workers=2):
    """(port, process) of gunicorn alone serving the platform on loopback (sync workers,
    no proxy in front), with throttling off; stopped on leaving."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "messsite.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--log-level", "warning"]
    with started([("web", command, {})], port) as processes:
        yield port, processes[0]


@contextmanager
def started(commands, port):
    """[process] of each (name, command, environment) started with throttling off, once
    http://127.0.0.1:port/api/v1/health/ answers; all stopped on leaving."""
    processes = []
    try:
        for _name, command, env in commands:
            processes.append(subprocess.Popen(command, env={**os.environ, **UNTHROTTLED, **env},
                                              start_new_session=True))
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(port, "/api/v1/health/", timeout=5)[0] < 500:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError("the web server did not come up")
            time.sleep(0.3)
        yield processes
    finally:
        for process in reversed(processes):
            if process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
