"""The OpenSubsonic API under /rest/: every Subsonic player is a MESS client.

protocol.py has the wire format, auth.py who is calling, library.py how tracks map onto
songs, albums and artists; one module per area of endpoints (system, browsing, media,
playlists, annotation, similarity), each exporting ENDPOINTS; views.py dispatches to them.
docs/subsonic.md lists every endpoint with its status.
"""
