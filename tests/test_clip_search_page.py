"""The search-by-clip page: what it renders and that what its script is handed matches the
API it talks to. The script itself is driven in a browser by the browser tests."""

import json
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from recommendations.serializers import ClipUploadSerializer
from tests.factories import audio_bytes, make_user, tone

pytestmark = pytest.mark.django_db

PAGE = "/search/"


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attributes), plus the text of each <label>
    and the JSON of each json_script."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.label_texts, self.scripts = [], {}, {}
        self._label, self._script = None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "label":
            self._label = attributes.get("for")
            self.label_texts.setdefault(self._label, "")
        if tag == "script" and attributes.get("type") == "application/json":
            self._script = attributes["id"]

    def handle_endtag(self, tag):
        if tag == "label":
            self._label = None
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._label is not None:
            self.label_texts[self._label] += data
        if self._script is not None:
            self.scripts[self._script] = json.loads(data)

    def by_id(self, element_id):
        return next(attributes for _, attributes in self.tags if attributes.get("id") == element_id)

    def csrf_token(self):
        return next(attrs["value"] for _, attrs in self.tags if attrs.get("name") == "csrfmiddlewaretoken")


@pytest.fixture
def listener(client):
    client.force_login(make_user("listener"))


def page(client):
    response = client.get(PAGE)
    assert response.status_code == 200
    return response, Elements(response.text)


def test_anonymous_listeners_are_asked_to_sign_in_and_get_no_controls(client):
    response, elements = page(client)
    assert 'href="/accounts/login/?next=/search/"' in response.text
    assert not any(tag in ("input", "select") and attrs.get("type") != "hidden" for tag, attrs in elements.tags)
    assert "clip_search.js" not in response.text


def test_every_control_is_labelled(client, listener):
    _, elements = page(client)
    controls = [
        attrs for tag, attrs in elements.tags
        if tag in ("input", "select") and attrs.get("type") != "hidden"
    ]
    # The page's own and the site's player's (the name to save its queue under).
    assert {attrs["id"] for attrs in controls} == {"clip-file", "clip-aspect", "gp-save-name"}
    for attrs in controls:
        assert elements.label_texts.get(attrs["id"], "").strip(), f"#{attrs['id']} has no label"
    assert elements.label_texts["clip-file"].strip() == "Audio file"
    assert elements.label_texts["clip-aspect"].strip() == "Similar by"
    assert elements.by_id("clip-status")["role"] == "status"
    for results in ("clip-similar", "clip-passages"):
        assert elements.by_id(results)["data-state"] == "idle"


def test_the_form_posts_the_field_the_api_reads(client, listener):
    _, elements = page(client)
    config = elements.scripts["clip-config"]
    form = elements.by_id("clip-form")
    file_input = elements.by_id("clip-file")
    assert form["action"] == config["searchUrl"] == "/api/v1/search/clip/"
    assert form["enctype"] == "multipart/form-data"
    assert file_input["type"] == "file" and [file_input["name"]] == list(ClipUploadSerializer().fields)
    assert file_input["accept"] == ".aif,.aifc,.aiff,.flac,.mp3,.ogg,.opus,.wav,audio/*"

    # What the script does with them: the input's field posted to the form's action with the
    # page's CSRF token in a header, then the returned url polled.
    clip = SimpleUploadedFile("clip.wav", audio_bytes(tone(seconds=3.0)))
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = client.cookies
    response = browser.post(
        form["action"], {file_input["name"]: clip},
        HTTP_X_CSRFTOKEN=elements.csrf_token(), HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 202, response.content
    detail = client.get(response.json()["url"], {"aspect": "timbre"})
    assert detail.status_code == 200 and detail.json()["status"] == "queued"


def test_the_script_gets_the_api_urls_and_the_clip_limits(client, listener, settings):
    settings.MESS_CLIP_MAX_SECONDS = 12
    response, elements = page(client)
    config = elements.scripts["clip-config"]
    assert config["aspectsUrl"] == "/api/v1/aspects/"
    assert config["trackPageUrl"].replace("{pk}", "7") == "/tracks/7/"
    assert config["maxSeconds"] == 12 and config["minSeconds"] == settings.MESS_MIN_DURATION_SECONDS
    assert "1 to 12 seconds" in response.text
    # The recorder's worklet module is the page script itself, which registers the processor.
    sources = [attrs["src"] for tag, attrs in elements.tags if tag == "script" and "src" in attrs]
    assert config["workletUrl"] in sources
    source = open(finders.find("recommendations/clip_search.js")).read()
    assert 'registerProcessor("clip-capture"' in source and 'new AudioWorkletNode(context, "clip-capture")' in source


def test_the_page_loads_nothing_from_other_hosts(client, listener):
    response, elements = page(client)
    references = [
        attrs[name] for _, attrs in elements.tags for name in ("src", "href", "action") if attrs.get(name)
    ]
    assert references, "the page references its own assets"
    assert all(ref.startswith(("/", "#", "?")) and not ref.startswith("//") for ref in references), references
    for _, attrs in elements.tags:
        if attrs.get("src", "").startswith("/static/") or attrs.get("href", "").startswith("/static/"):
            path = (attrs.get("src") or attrs["href"]).removeprefix("/static/")
            assert finders.find(path), f"{path} is not a static file"
    source = open(finders.find("recommendations/clip_search.js")).read()
    assert "http://" not in source and "https://" not in source
