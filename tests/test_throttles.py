"""The API's rate limits are keyed on the client's address, which only trusted proxies may
name: X-Forwarded-For is the client's to write, so with no proxy configured it is ignored."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

TRACKS = "/api/v1/tracks/"


@pytest.fixture
def low_rate(monkeypatch):
    # DRF copies the rates onto the throttle class at import; patch the class attribute.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3/min"})


def get(client, forwarded_for, remote="10.0.0.9"):
    return client.get(TRACKS, HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR=remote)


def test_a_new_forwarded_for_per_request_does_not_escape_the_limit(low_rate, settings):
    assert settings.MESS_PROXY_COUNT == 0  # the default: trust no proxy
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    client = APIClient()
    statuses = [get(client, f"203.0.113.{i}").status_code for i in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]


def test_behind_one_proxy_the_last_forwarded_address_is_the_client(low_rate, settings):
    settings.MESS_PROXY_COUNT = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = APIClient()
    # The client wrote the first entry itself; the proxy appended the real address.
    assert [get(client, f"1.2.3.{i}, 198.51.100.1").status_code for i in range(4)] == [200, 200, 200, 429]
    # Another client behind the same proxy has a bucket of its own.
    assert get(client, "1.2.3.4, 198.51.100.2").status_code == 200


def test_client_address_follows_the_proxy_count(rf, settings):
    from messsite.security import client_address

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.1.1.1, 2.2.2.2", REMOTE_ADDR="10.0.0.1")
    settings.MESS_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.1"
    settings.MESS_PROXY_COUNT = 1
    assert client_address(request) == "2.2.2.2"
    settings.MESS_PROXY_COUNT = 2
    assert client_address(request) == "1.1.1.1"
    settings.MESS_PROXY_COUNT = 5  # more proxies than entries: the first entry
    assert client_address(request) == "6.6.6.6"
    settings.MESS_PROXY_COUNT = 1
    assert client_address(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"  # no header: the peer
