"""Schemathesis, every check but the two tests/schemathesis.toml turns off with its reason,
against the API of a live server of this suite: each answer's status, content type,
headers and body as the OpenAPI schema (/api/v1/schema/) says, no 5xx, invalid input
refused, authentication not ignored. Signed in as a curator, over a small catalogue with
an embedding space, so ids resolve and writes go through."""

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import make_user, token_for
from tests.test_recommender import corpus  # noqa: F401 (a fixture)

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_as_its_schema_says(live_server, corpus, monkeypatch, tmp_path):
    # Thousands of requests a minute from one client: the limits have their own tests (test_throttles.py).
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "100000/min", "user": "100000/min"})
    token = token_for(make_user("curator", staff=True, curator=True))
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", "-H",
         f"Authorization: Token {token}", "--url", live_server.url, f"{live_server.url}/api/v1/schema/?format=json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
