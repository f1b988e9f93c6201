"""Listening on top of the recommender: an endless radio from a seed (radio.py), paths
that ease from one track to another (paths.py), both under the same rules of variety
(rules.py: no repeats, no duplicate recordings, caps per composer, work, album and
dataset), and radio sessions kept in Redis (sessions.py)."""
