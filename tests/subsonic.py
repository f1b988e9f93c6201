"""Calling /rest/ as a player does, and checking answers against the specifications:
the Subsonic 1.16.1 XSD for XML and OpenSubsonic's JSON schemas (tests/fixtures/opensubsonic/,
the schemas copied from opensubsonic/open-subsonic-api at 4c1819f, Apache-2.0; the XSD as
Subsonic published it, from trifleneurotic/EmbySonic)."""

import json
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import referencing
import xmlschema
from django.test import Client

from catalog.subsonic.keys import create_key

SPEC = Path(__file__).parent / "fixtures" / "opensubsonic"
NS = "{http://subsonic.org/restapi}"
# What OpenSubsonic adds to Subsonic's XML as attributes; the 1.16.1 XSD knows none of them,
# so they are taken out before validating what remains against it.
OPEN_SUBSONIC_ATTRIBUTES = {
    "type", "serverVersion", "openSubsonic",  # the root
    "mediaType", "samplingRate", "channelCount", "bitDepth", "displayComposer", "displayArtist",
    "displayAlbumArtist", "sortName", "played", "comment", "bpm", "musicBrainzId", "isCompilation",
    "userRating", "helpUrl", "readonly",
}


def api_key_for(user, name="test player"):
    return create_key(user, name)[1]


def rest(name, /, key=None, *, f="json", method="get", client=None, **params):
    """The HTTP response of /rest/<name>.view called with API key `key` (if any); `name` is
    positional-only, as some endpoints take a parameter called name."""
    client = client or Client()
    query = {"v": "1.16.1", "c": "tests", **({"apiKey": key} if key else {}), **({"f": f} if f else {}), **params}
    return getattr(client, method)(f"/rest/{name}.view", query)


def ok(response, name=None):
    """The JSON body of a successful answer, checked against the endpoint's schema."""
    assert response.status_code == 200, response.content[:500]
    body = response.json()["subsonic-response"]
    assert body["status"] == "ok", body.get("error")
    if name:
        assert_json_conforms(name, response.json())
    return body


def failed(response, code, status=200):
    """The error element of a failed answer, with its code checked."""
    assert response.status_code == status, response.content[:500]
    body = response.json()["subsonic-response"]
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    return body["error"]


@cache
def _xsd():
    return xmlschema.XMLSchema(SPEC / "subsonic-rest-api-1.16.1.xsd")


def assert_xml_conforms(content):
    """`content` (an XML answer) is valid against the Subsonic XSD once OpenSubsonic's own
    attributes are taken out; returns the parsed root."""
    root = ElementTree.fromstring(content)
    assert root.tag == f"{NS}subsonic-response"
    assert root.get("openSubsonic") == "true"
    for element in root.iter():
        for attribute in OPEN_SUBSONIC_ATTRIBUTES & set(element.attrib):
            del element.attrib[attribute]
    _xsd().validate(root)
    return root


@cache
def _registry():
    def retrieve(uri):
        return referencing.Resource.from_contents(json.loads(Path(uri.removeprefix("file://")).read_text()),
                                                  default_specification=referencing.jsonschema.DRAFT7)
    return referencing.Registry(retrieve=retrieve)


def assert_json_conforms(name, body):
    """`body` (a parsed JSON answer of endpoint `name`) is valid against OpenSubsonic's
    schema for that endpoint's response (the common envelope's for an endpoint that
    answers nothing else, such as ping or star)."""
    path = SPEC / "openapi" / "endpoints" / name / f"{name[0].upper()}{name[1:]}Response.json"
    if not path.exists():
        path = SPEC / "openapi" / "schemas" / "SubsonicResponse.json"
    schema = {"$ref": path.resolve().as_uri()}
    validator = jsonschema.Draft7Validator(schema, registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda error: error.path)
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
