"""GET /api/v1/health/: is this web node able to serve? Database (with pgvector), broker
and storage must answer; workers are reported but do not make the node unhealthy."""

import threading
import time
import uuid

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from messsite.celery import app as celery_app


def _timed(check):
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a health check reports every failure, whatever its type
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the 'vector' extension is not installed in this database (run migrate)")
    return {"pgvector": row[0]}


def check_broker():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls}


def check_storage():
    name = default_storage.save(f"health/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)
    return {"backend": type(default_storage).__name__}


WORKERS_CACHE_KEY = "health:workers"
WORKERS_CACHE_SECONDS = 5


def check_workers(timeout=1.0):
    # A ping waits out its whole timeout (replies travel through Redis polling; under a
    # second some are missed), so its answer is shared site-wide and refreshed in the
    # background once older than WORKERS_CACHE_SECONDS (one refresh at a time): a health
    # request costs milliseconds, and a flood of them cannot hold the web workers.
    cached = cache.get(WORKERS_CACHE_KEY)  # (names, when)
    if cached is None:
        cached = _ping_workers(timeout)
    elif time.time() - cached[1] > WORKERS_CACHE_SECONDS and cache.add(
            f"{WORKERS_CACHE_KEY}:refreshing", 1, timeout=timeout + 1):
        threading.Thread(target=_ping_workers, args=(timeout,), daemon=True).start()
    names = cached[0]
    if not names:
        raise RuntimeError("no Celery worker answered; start one with `make worker`")
    return {"count": len(names), "names": names}


def _ping_workers(timeout):
    replies = celery_app.control.ping(timeout=timeout)
    answer = (sorted(name for reply in replies for name in reply), time.time())
    cache.set(WORKERS_CACHE_KEY, answer, None)
    return answer


class HealthView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []  # load balancers and orchestrators poll this

    @extend_schema(
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField(), "checks": serializers.DictField()}),
            503: inline_serializer("Unhealthy", {"status": serializers.CharField(), "checks": serializers.DictField()}),
        },
        description="Database (with pgvector), broker and storage must be up for 200; "
        "workers are reported and only mark the status 'degraded'.",
    )
    def get(self, request):
        checks = {
            "database": _timed(check_database),
            "broker": _timed(check_broker),
            "storage": _timed(check_storage),
        }
        essential_ok = all(check["ok"] for check in checks.values())
        checks["workers"] = _timed(check_workers) if checks["broker"]["ok"] else {"ok": False, "error": "broker down"}
        if not essential_ok:
            status = "error"
        elif not checks["workers"]["ok"]:
            status = "degraded"
        else:
            status = "ok"
        return Response({"status": status, "checks": checks}, status=503 if status == "error" else 200)


class UnslashedHealthView(HealthView):
    """/api/v1/health without the slash, for the probes already pointed at it; the schema
    documents /api/v1/health/ only."""

    schema = None
