"""Playlist files: M3U8 and XSPF written from a playlist's entries, M3U/M3U8 read back.

Writers take the entries' tracks and two functions giving a track's absolute stream URL and
page URL, so they know nothing of requests. The reader returns what each entry says (its
location line and its #EXTINF title) for catalog/playlists/matching.py to find the tracks.
"""

import re
from dataclasses import dataclass
from xml.etree import ElementTree

M3U8_CONTENT_TYPE = "audio/x-mpegurl"
XSPF_CONTENT_TYPE = "application/xspf+xml"
XSPF_NAMESPACE = "http://xspf.org/ns/0/"

# Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR; lone
# surrogates; U+FFFE/U+FFFF): a title read from a file's tags may hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# What may not appear inside one line of a text playlist (a title with a line break would
# start a new entry).
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")


class UnreadablePlaylist(ValueError):
    """A file that is not a text playlist; the message says why, for people."""


@dataclass(frozen=True)
class FileEntry:
    """One entry of an M3U file: its location line as written, and its #EXTINF title."""

    location: str
    title: str = ""


def artist(track):
    """Who a playlist names for the track: the performer, else the composer."""
    return track.performer or track.composer


def display_name(track):
    """"artist - title", as players show an #EXTINF line, or the title alone."""
    return f"{artist(track)} - {track.title}" if artist(track) else track.title


def to_m3u8(name, tracks, stream_url):
    """The extended M3U text (UTF-8) of `tracks`, each with #EXTINF (whole seconds,
    "artist - title") and its absolute stream URL."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(name)}"]
    for track in tracks:
        lines.append(f"#EXTINF:{round(track.duration)},{_one_line(display_name(track))}")
        lines.append(stream_url(track))
    return "\n".join(lines) + "\n"


def to_xspf(playlist, tracks, stream_url, page_url, playlist_url):
    """XSPF version 1 (https://xspf.org/spec) of the playlist: title, creator, annotation,
    its page as info, and per track location, title, creator, album, trackNum, duration (ms)
    and the track's page as info."""
    ElementTree.register_namespace("", XSPF_NAMESPACE)
    root = ElementTree.Element(_tag("playlist"), version="1")
    _child(root, "title", playlist.name)
    _child(root, "creator", playlist.owner.get_username())
    _child(root, "annotation", playlist.description)
    _child(root, "info", playlist_url)
    _child(root, "date", playlist.created_at.isoformat())
    track_list = ElementTree.SubElement(root, _tag("trackList"))
    for track in tracks:
        element = ElementTree.SubElement(track_list, _tag("track"))
        _child(element, "location", stream_url(track))
        _child(element, "title", track.title)
        _child(element, "creator", artist(track))
        _child(element, "info", page_url(track))
        _child(element, "album", track.album)
        _child(element, "trackNum", track.track_number and str(track.track_number))
        _child(element, "duration", str(round(track.duration * 1000)))
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


@dataclass(frozen=True)
class M3UFile:
    name: str  # the #PLAYLIST: name the file gives itself, or ""
    entries: list


def parse_m3u(data):
    """An M3U or M3U8 file's (bytes) name and entries: UTF-8 with or without a byte order
    mark, or Windows-1252 (older .m3u files), any line ends. Raises UnreadablePlaylist for a
    file that is not text."""
    if b"\x00" in data:
        raise UnreadablePlaylist("The file holds NUL bytes: it is binary, not an M3U text playlist.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadablePlaylist("The file is neither UTF-8 nor Windows-1252 text: it is not an M3U playlist.")
    if re.search("[\x01-\x08\x0e-\x1f\x7f]", text):
        raise UnreadablePlaylist("The file holds control characters: it is binary, not an M3U text playlist.")
    name, entries, title = "", [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.upper().startswith("#PLAYLIST:"):
            name = line[len("#PLAYLIST:"):].strip()
        elif line.upper().startswith("#EXTINF:"):
            # "#EXTINF:<seconds>[ attributes],<title>": the title is all after the first comma.
            title = line.partition(",")[2].strip()
        elif line and not line.startswith("#"):
            entries.append(FileEntry(location=line, title=title))
            title = ""
    return M3UFile(name=name, entries=entries)


def _one_line(text):
    return _LINE_BREAKS.sub(" ", text).strip()


def _tag(name):
    return f"{{{XSPF_NAMESPACE}}}{name}"


def _child(parent, name, text):
    """A child element holding `text`, left out when there is no text (XSPF's elements are
    all optional, and an empty one means nothing)."""
    if text:
        ElementTree.SubElement(parent, _tag(name)).text = _NOT_XML.sub("", text)
