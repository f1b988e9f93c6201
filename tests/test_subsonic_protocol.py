"""The /rest/ envelope, formats, authentication and refusals, as a player meets them."""

import pytest
from django.test import Client, RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from catalog.models import ApiKey
from catalog.subsonic import auth
from catalog.subsonic.keys import revoke_key
from catalog.subsonic.protocol import Params, render
from tests.factories import make_user
from tests.subsonic import api_key_for, assert_json_conforms, assert_xml_conforms, failed, ok, rest
from tests.test_recommender import make_space

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget_verified_passwords():
    auth._verified.clear()


def test_ping_with_an_api_key_answers_the_envelope_in_json_and_in_xml():
    key = api_key_for(make_user())
    body = ok(rest("ping", key), "ping")
    assert body["version"] == "1.16.1" and body["openSubsonic"] is True and body["type"] == "MESS"
    response = rest("ping", key, f=None)
    assert response["Content-Type"].startswith("text/xml")
    root = assert_xml_conforms(response.content)
    assert root.get("status") == "ok"


def test_both_spellings_and_form_posts_reach_the_endpoint():
    key = api_key_for(make_user())
    assert Client().get("/rest/ping", {"apiKey": key, "f": "json"}).json()["subsonic-response"]["status"] == "ok"
    assert ok(rest("ping", key, method="post"))["status"] == "ok"


def test_extensions_are_listed_without_credentials():
    make_space()  # sonicSimilarity is listed once there is a space to compare in (test_subsonic_similarity.py)
    body = ok(rest("getOpenSubsonicExtensions"), "getOpenSubsonicExtensions")
    names = {extension["name"] for extension in body["openSubsonicExtensions"]}
    assert {"apiKeyAuthentication", "sonicSimilarity", "formPost"} <= names
    xml = rest("getOpenSubsonicExtensions", f=None).content.decode()
    assert '<openSubsonicExtensions name="sonicSimilarity"' in xml


def test_license_is_valid():
    assert ok(rest("getLicense", api_key_for(make_user())), "getLicense")["license"]["valid"] is True


def test_token_info_names_the_keys_owner():
    user = make_user("ann")
    assert ok(rest("tokenInfo", api_key_for(user)), "tokenInfo")["tokenInfo"]["username"] == "ann"


def test_a_password_is_checked_against_the_stored_hash_plain_or_hex_encoded():
    make_user("ann")  # password pw-ann
    assert ok(rest("ping", u="ann", p="pw-ann"))
    assert ok(rest("ping", u="ann", p="enc:" + "pw-ann".encode().hex()))
    failed(rest("ping", u="ann", p="wrong"), 40)


def test_a_remembered_password_stops_working_once_changed():
    user = make_user("ann")
    assert ok(rest("ping", u="ann", p="pw-ann"))
    user.set_password("new secret")
    user.save()
    failed(rest("ping", u="ann", p="pw-ann"), 40)
    assert ok(rest("ping", u="ann", p="new secret"))


def test_token_authentication_is_refused_with_the_way_to_an_api_key():
    make_user("ann")
    error = failed(rest("ping", u="ann", t="26719a1196d2a940705a59634eb18eab", s="c19b2d"), 41)
    assert "API key" in error["message"] and error["helpUrl"].startswith("http")


def test_a_key_with_a_user_name_conflicts_and_a_wrong_key_is_refused():
    key = api_key_for(make_user("ann"))
    failed(rest("ping", key, u="ann"), 43)
    failed(rest("ping", "mess_not-a-key"), 44)
    failed(rest("ping"), 10)


def test_a_revoked_key_stops_working_and_its_use_is_recorded():
    user = make_user()
    key = api_key_for(user)
    ok(rest("ping", key))
    stored = ApiKey.objects.get(user=user)
    assert stored.last_used_at is not None and key not in (stored.digest, stored.prefix)
    assert revoke_key(user, stored.pk)
    failed(rest("ping", key), 44)


def test_an_inactive_user_cannot_sign_in_by_key_or_password():
    user = make_user("ann")
    key = api_key_for(user)
    user.is_active = False
    user.save()
    failed(rest("ping", key), 44)
    failed(rest("ping", u="ann", p="pw-ann"), 40)


def test_password_guessing_locks_the_account_with_429(settings):
    settings.MESS_LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    make_user("ann")
    for _ in range(3):
        failed(rest("ping", u="ann", p="guess"), 40)
    response = rest("ping", u="ann", p="pw-ann")
    error = failed(response, 40, status=429)
    assert int(response["Retry-After"]) > 0 and "locked" in error["message"]


def test_the_api_rate_limit_applies(monkeypatch):
    # DRF copies the rates onto the throttle class at import; patch the class attribute.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    key = api_key_for(make_user())
    for _ in range(3):
        ok(rest("ping", key))
    response = rest("ping", key)
    failed(response, 0, status=429)
    assert int(response["Retry-After"]) >= 1


def test_unknown_endpoints_and_methods_answer_in_the_protocols_shape():
    key = api_key_for(make_user())
    failed(rest("getJukeboxVideos", key), 0, status=404)
    put = Client().put("/rest/ping.view?f=json")
    failed(put, 0, status=405)
    assert put["Allow"] == "GET, HEAD, POST"


def test_players_in_a_browser_of_another_origin_may_read_every_answer():
    key = api_key_for(make_user())
    preflight = Client().options("/rest/getAlbumList2.view", HTTP_ORIGIN="https://player.example",
                                 HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    for response in (rest("ping", key), rest("ping", "mess_wrong"), rest("nothingHere", key)):
        assert response["Access-Control-Allow-Origin"] == "*"


def test_a_wrong_key_does_not_lock_the_address_out(settings):
    settings.MESS_LOGIN_MAX_FAILURES_PER_ADDRESS = 2
    user = make_user("ann")
    for _ in range(4):  # a player still holding a revoked key, retrying
        failed(rest("ping", "mess_revoked"), 44)
    assert ok(rest("ping", api_key_for(user)))
    assert ok(rest("ping", u="ann", p="pw-ann"))


def test_errors_conform_to_the_schemas():
    response = rest("ping", "mess_wrong")
    assert_json_conforms("ping", response.json())
    assert_xml_conforms(rest("ping", "mess_wrong", f=None).content)


def test_the_account_page_makes_shows_once_and_revokes_keys():
    user = make_user("ann")
    client = Client()
    client.force_login(user)
    page = client.post("/accounts/keys/", {"name": "Feishin"})
    key = page.context["new_key"]
    assert key.startswith("mess_") and key in page.content.decode()
    assert ok(rest("ping", key))
    listed = client.get("/accounts/keys/").content.decode()
    assert "Feishin" in listed and key not in listed and key[:12] in listed
    other = make_user("bob")
    client.force_login(other)
    client.post(f"/accounts/keys/{ApiKey.objects.get().pk}/revoke/")
    assert ok(rest("ping", key))  # not bob's to revoke
    client.force_login(user)
    client.post(f"/accounts/keys/{ApiKey.objects.get().pk}/revoke/")
    failed(rest("ping", key), 44)
    assert client.post("/accounts/keys/", {"name": " "}).status_code == 400


def test_jsonp_wraps_the_answer_in_a_named_callback_and_nothing_else():
    key = api_key_for(make_user())
    response = rest("ping", key, f="jsonp", callback="player.onAnswer")
    assert response["Content-Type"].startswith("application/javascript")
    assert response.content.decode().startswith('player.onAnswer({"subsonic-response": ')
    hostile = rest("ping", key, f="jsonp", callback="alert(1)//")
    assert hostile["Content-Type"].startswith("application/json") and b"alert" not in hostile.content


def test_text_no_xml_can_carry_is_replaced_not_sent():
    params = Params(RequestFactory().get("/rest/x"))
    xml = render(params, {"song": {"title": "bad\x01title & <more>"}}).content.decode()
    assert 'title="bad\ufffdtitle &amp; &lt;more&gt;"' in xml


@pytest.mark.parametrize("name, element", [
    ("getPodcasts", "podcasts"), ("getNewestPodcasts", "newestPodcasts"),
    ("getInternetRadioStations", "internetRadioStations"), ("getBookmarks", "bookmarks"), ("getShares", "shares"),
])
def test_what_mess_has_none_of_is_an_empty_list(name, element):
    key = api_key_for(make_user())
    assert ok(rest(name, key), name)[element] == {}
    assert_xml_conforms(rest(name, key, f=None).content)


def test_no_lyrics_are_empty_lyrics():
    key = api_key_for(make_user())
    assert ok(rest("getLyrics", key, artist="Bach", title="Air"), "getLyrics")["lyrics"] == {"value": ""}
    assert_xml_conforms(rest("getLyrics", key, f=None).content)


def test_hostile_parameters_get_fast_specific_refusals():
    key = api_key_for(make_user())
    nul = rest("getSong", key, id="1\x00")
    assert nul.status_code == 400  # refused before any view: PostgreSQL text holds no NUL
    failed(rest("getRandomSongs", key, size="lots"), 0)
    failed(rest("getSong", key, id="9" * 5000), 70)
    failed(rest("getAlbum", key, id="al-" + "A" * 5000), 70)
    failed(rest("getSong", key, id="-1"), 70)
    assert ok(rest("getRandomSongs", key, size=str(10**30)))["randomSongs"] == {"song": []}  # clamped, not refused
    many = Client().post("/rest/star.view", {"apiKey": key, "f": "json", "id": ["9" * 9] * 900})
    failed(many, 70)
