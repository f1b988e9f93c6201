"""Password guessing: failed sign-ins are counted per account and per client address, on
the token endpoint, the sign-in page and the admin's alike, and past the limit all refuse
with 429 and Retry-After until the lockout ends, even the right password."""

import pytest
from rest_framework.test import APIClient

from tests.factories import make_user

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.MESS_LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    settings.MESS_LOGIN_LOCKOUT_SECONDS = 600


@pytest.fixture
def users(db):
    return make_user("curator", staff=True, curator=True), make_user("listener")


def token(username, password, address="10.0.0.1", **headers):
    return APIClient().post(TOKEN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def assert_locked(response, *words):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (429, "locked_out")
    assert 0 < int(response["Retry-After"]) <= 600
    for word in words:
        assert word in error["message"]
    return error


def test_an_account_is_locked_after_its_failures_even_for_the_right_password(users):
    assert [token("curator", f"guess-{i}").status_code for i in range(3)] == [400, 400, 400]
    error = assert_locked(token("curator", "pw-curator"), "account", "correct password")
    assert "minute" in error["message"]
    # From another address too: the lock is on the account.
    assert_locked(token("curator", "pw-curator", address="10.0.0.2"))
    # Others still sign in, from the same address.
    assert token("listener", "pw-listener").status_code == 200


def test_the_account_lock_ends_after_the_lockout(users):
    from messsite import security

    for i in range(3):
        token("curator", f"guess-{i}")
    assert_locked(token("curator", "pw-curator"))
    security.redis_client().delete(*security.redis_client().keys("*login-fail:account:*"))  # time passes
    assert token("curator", "pw-curator").status_code == 200


def test_usernames_differing_in_case_share_a_counter(users):
    for name in ("curator", "CURATOR", "Curator"):
        token(name, "guess")
    assert_locked(token("curator", "pw-curator"))


def test_a_success_clears_the_accounts_count(users):
    for i in range(2):
        token("curator", f"guess-{i}")
    assert token("curator", "pw-curator").status_code == 200
    for i in range(2):
        assert token("curator", f"guess-{i}").status_code == 400
    assert token("curator", "pw-curator").status_code == 200


def test_an_address_is_locked_after_failures_across_accounts(users):
    statuses = [token(f"user-{i}", "guess").status_code for i in range(5)]
    assert statuses == [400] * 5
    assert_locked(token("listener", "pw-listener"), "address")
    # Another address is unaffected.
    assert token("listener", "pw-listener", address="10.0.0.2").status_code == 200


def test_forwarded_for_does_not_spread_guesses_over_addresses(users):
    for i in range(5):
        token(f"user-{i}", "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert_locked(token("listener", "pw-listener", HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_a_body_that_is_not_an_object_is_an_error_not_a_crash(users):
    response = APIClient().post(TOKEN, [1, 2], format="json", REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 400


def test_the_token_endpoint_has_the_anonymous_rate_limit(users, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "2/min"})
    assert [token("listener", "pw-listener").status_code for _ in range(3)] == [200, 200, 429]


# --- the sign-in page -----------------------------------------------------------------


def sign_in(client, username, password, address="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_sign_in_page_locks_an_account_with_a_readable_page(users, client):
    for i in range(3):
        response = sign_in(client, "curator", f"guess-{i}")
        assert response.status_code == 200 and b"correct username and password" in response.content
    response = sign_in(client, "curator", "pw-curator")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 600
    text = response.content.decode()
    assert "<h1>Sign in</h1>" in text and 'role="alert"' in text
    assert "Too many failed sign-ins" in text and "correct password" in text
    assert "_auth_user_id" not in client.session
    # The API's lock and the page's are one.
    assert_locked(token("curator", "pw-curator"))
    # Another account signs in on the page.
    assert sign_in(client, "listener", "pw-listener").status_code == 302


def test_failures_on_the_page_and_the_api_add_up(users, client):
    sign_in(client, "curator", "guess-1")
    token("curator", "guess-2")
    sign_in(client, "curator", "guess-3")
    assert_locked(token("curator", "pw-curator"))


def test_the_admin_sign_in_says_an_account_is_locked_as_the_site_does(users, client):
    make_user("boss", superuser=True)
    for i in range(3):
        token("boss", f"guess-{i}")
    response = client.post("/admin/login/", {"username": "boss", "password": "pw-boss"}, REMOTE_ADDR="10.0.0.7")
    assert response.status_code == 429  # the form again, not a redirect into the admin
    assert 0 < int(response["Retry-After"]) <= 600
    text = response.content.decode()
    assert 'id="login-form"' in text and 'class="errornote"' in text  # the admin's own page
    assert "Too many failed sign-ins for this account" in text and "correct password" in text
    assert "Please enter the correct username" not in text
    assert "_auth_user_id" not in client.session
    # Another (staff) account signs in to the admin from the same address.
    assert client.post("/admin/login/", {"username": "curator", "password": "pw-curator", "next": "/admin/"},
                       REMOTE_ADDR="10.0.0.7").status_code == 302


def test_the_admin_sign_in_counts_failures_and_locks_the_address(users, client):
    for i in range(5):
        response = client.post("/admin/login/", {"username": f"user-{i}", "password": "guess"}, REMOTE_ADDR="10.0.0.8")
        assert response.status_code == 200 and "Please enter the correct username" in response.content.decode()
    response = client.post("/admin/login/", {"username": "curator", "password": "pw-curator"}, REMOTE_ADDR="10.0.0.8")
    assert response.status_code == 429 and "from your address" in response.content.decode()
    assert_locked(token("curator", "pw-curator", address="10.0.0.8"), "address")
