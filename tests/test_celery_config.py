from messsite.celery import app


def test_model_work_goes_to_the_ml_queue_and_the_rest_to_default():
    router = app.amqp.router
    assert router.route({}, "analysis.tasks.extract_track")["queue"].name == "ml"
    assert router.route({}, "catalog.tasks.anything")["queue"].name == "default"


def test_reliability_settings():
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_time_limit > conf.task_soft_time_limit > 0


def test_tasks_offer_enqueue_on_commit():
    @app.task(name="tests.noop")
    def noop():
        return None

    assert hasattr(noop, "delay_on_commit")
