"""Playlists: a user's ordered lists of tracks, edited in services.py, written and read as
M3U8 and XSPF files in formats.py and matching.py, served by api.py and views.py."""
