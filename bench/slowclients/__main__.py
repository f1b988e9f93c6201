"""Slow-client benchmark: `python -m bench.slowclients [--tracks 10000] [--stalled 20] [--seconds 15]`.

Does a handful of clients sending request bodies slowly take the site down? Puts a
synthetic catalogue in PostgreSQL (bench/search's, deleted at the end), then, for each way
of serving it, measures GET /api/v1/health/ and GET /api/v1/tracks/{id}/similar/ at a
fixed offered rate (open loop: latency counts from the scheduled time), first alone and
then while `--stalled` uploads are held open. Each stalled upload is what the hostile-input
report sent: a multipart POST to /accounts/login/ with a valid CSRF cookie declaring a
body of 999,999,999 bytes, then one byte every few seconds, under the proxy's stall timeout,
so it is never dropped.

  - front: `manage.py up`'s web server (messsite/front.py): nginx buffering in front of 2
    gunicorn sync workers on a unix socket;
  - gunicorn alone (the baseline, as MESS ran before): 2 sync workers on the port.

The table gives p50/p99 and errors per phase and the ratio of p99 with stalled uploads to
p99 without, per server. Throttling is off (one loopback address sends all of it).
Loopback only; run with MESS_DATA_DIR pointing at a scratch directory to keep data/ clean.
"""

import argparse
import os
import socket
import threading
import time
from contextlib import contextmanager

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")
HEALTH = "/api/v1/health/"
TRICKLE_SECONDS = 4


class StalledUploads:
    """`count` uploads to /accounts/login/ held open by a byte every TRICKLE_SECONDS."""

    def __init__(self, port, count):
        self.port, self.count = port, count
        self.sockets, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self):
        status, headers = _get_headers(self.port, "/accounts/login/")
        cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie" and "csrftoken" in v)
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall((
                f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nCookie: {cookie}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 999999999\r\n\r\n--b\r\n"
            ).encode())
            self.sockets.append(sock)
        self.thread.start()
        time.sleep(1)  # let them reach whatever reads bodies
        return self

    def _trickle(self):
        while not self.stop.wait(TRICKLE_SECONDS):
            for sock in self.sockets:
                try:
                    sock.sendall(b"x")
                except OSError:
                    pass  # dropped by the server: counted in `dropped`

    def dropped(self):
        """How many of them the server has closed."""
        closed = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                closed += sock.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        return closed

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def _get_headers(port, path):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        conn.close()


@contextmanager
def front(workers=2):
    """Port of the web front as `manage.py up` runs it, throttling off."""
    from bench.search import http
    from messsite.front import web_commands

    port = http.free_port()
    with web_commands(host="127.0.0.1", port=port, web_workers=workers,
                      gunicorn_args=["--log-level", "warning"]) as commands, http.started(commands, port):
        yield port


@contextmanager
def gunicorn_alone(workers=2):
    from bench.search import http

    with http.gunicorn(workers) as (port, _process):
        yield port


def measure(port, track_ids, seconds, similar_rate, health_rate):
    """{path label: (p50, p99, rps, errors)} of /similar/ and /health asked together."""
    from bench.search import http

    results = {}

    def run(label, path, clients, rate, seed):
        results[label] = http.load(port, track_ids, clients, seconds, rate, seed=seed, path=path)

    threads = [threading.Thread(target=run, args=("similar", http.PATH, 8, similar_rate, 0)),
               threading.Thread(target=run, args=("health", HEALTH, 2, health_rate, 100))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--stalled", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15, help="length of each measured phase")
    parser.add_argument("--similar-rate", type=int, default=40, help="offered /similar/ requests per second")
    parser.add_argument("--health-rate", type=int, default=4, help="offered /health requests per second")
    args = parser.parse_args()
    django.setup()

    from django.core.management import call_command

    from analysis.models import EmbeddingSpace
    from bench.search import http
    from bench.search.__main__ import drop_pg_indexes, populate
    from messsite.embedded import EmbeddedServices
    from recommendations import index

    services = EmbeddedServices().start()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # the sign-in page's assets
    dataset, space, ids = populate(args.tracks, layer_tracks=100)
    was_active = list(EmbeddingSpace.objects.filter(is_active=True).values_list("pk", flat=True))
    rows = []
    try:
        EmbeddingSpace.objects.filter(is_active=True).update(is_active=False)
        EmbeddingSpace.objects.filter(pk=space.pk).update(is_active=True)
        index.load_or_build(space.pk, 0)  # saved once here, mapped by every web worker
        for name, serving in (("front (nginx + gunicorn)", front), ("gunicorn alone (baseline)", gunicorn_alone)):
            with serving() as port:
                http.warm(port, ids, workers=2)
                quiet = measure(port, ids, args.seconds, args.similar_rate, args.health_rate)
                with StalledUploads(port, args.stalled) as stalled:
                    loaded = measure(port, ids, args.seconds, args.similar_rate, args.health_rate)
                    dropped = stalled.dropped()
            for label in ("health", "similar"):
                for phase, result in (("no stalled uploads", quiet[label]), (f"{args.stalled} stalled uploads", loaded[label])):
                    p50, p99, rps, errors = result
                    if not rps:  # every request of the phase failed or timed out (30 s)
                        rows.append((name, label, phase, "no answer", f"0 req/s, {errors} errors", "down"))
                        continue
                    ratio = f"p99 {p99 / quiet[label][1]:.2f}x of without" if result is loaded[label] else ""
                    rows.append((name, label, phase, f"{p50:.1f} / {p99:.1f} ms", f"{rps:.0f} req/s, {errors} errors",
                                 ratio))
            rows.append((name, "stalled uploads", "", f"{dropped} of {args.stalled} dropped", "", ""))
    finally:
        EmbeddingSpace.objects.filter(pk=space.pk).update(is_active=False)
        EmbeddingSpace.objects.filter(pk__in=was_active).update(is_active=True)
        drop_pg_indexes(space)
        space.delete()
        dataset.delete()
        services.stop()
        header = ("server", "endpoint", "phase", "p50 / p99", "throughput", "vs without")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(f"{str(cell):<{w}}" for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
