"""The Celery app.

Two queues: ``ml`` for model work (only workers with torch installed consume it) and
``default`` for everything else. Tasks are routed by module, acknowledged late (a task
whose worker dies is redelivered), and fetched one at a time, since a single ML task can
run for minutes. Enqueue from request code with ``task.delay_on_commit(...)`` so a task
never runs before the rows it reads are committed.

Start a worker: ``celery -A messsite worker -Q ml,default`` (or ``-Q default`` on a host
without torch).
"""

import os

from celery import Celery
from celery.signals import worker_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messsite.settings")

app = Celery("messsite", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue("default"), Queue("ml")],
    task_default_queue="default",
    task_routes={"analysis.tasks.*": {"queue": "ml"}},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # Redis redelivers unacknowledged tasks after this long; it must exceed the longest task.
    broker_transport_options={"visibility_timeout": 6 * 60 * 60},
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()


@worker_init.connect
def refuse_database_without_pgvector(**kwargs):
    from messsite.database import require_pgvector

    require_pgvector()
