"""Composer names the way people type them: "bach", "J.S. Bach" and "Dvorak" find
"Johann Sebastian Bach" and "Antonín Dvořák".

Matching runs in Python over the catalogue's distinct composer names (a few hundred at
most), not in SQL: PostgreSQL's unaccent would be one more extension a deployed database
must have, and word-prefix matching and close-name suggestions need the names anyway.
"""

import difflib
import re
import unicodedata

from catalog.models import Track

SUGGESTIONS = 3  # close names offered when nothing matches
CLOSE = 0.75  # difflib's ratio from which a name, or one of its words, counts as close


class UnknownComposer(ValueError):
    """No catalogued composer matches; `suggestions` are the closest names, if any."""

    def __init__(self, text, suggestions):
        self.suggestions = suggestions
        hint = f" Did you mean {' or '.join(repr(name) for name in suggestions)}?" if suggestions else ""
        super().__init__(f"No composer in the catalogue matches {text!r}.{hint}")


def folded(text):
    """Lower case without accents: NFKD splits "á" into "a" and a combining mark, dropped here."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words(text):
    return re.findall(r"\w+", folded(text))


def matches(text, name):
    """Whether every word typed begins a word of `name`: "bach" matches "Johann Sebastian
    Bach" but not "Offenbach"; "j s bach" and "sebastian bach" match it too."""
    typed, named = words(text), words(name)
    return bool(typed) and all(any(word.startswith(part) for word in named) for part in typed)


def match_composers(text):
    """The catalogued composer names `text` matches, sorted; several when it is ambiguous
    (e.g. "bach" for J. S. and C. P. E. Bach). Raises UnknownComposer when none does."""
    names = set(Track.objects.exclude(composer="").values_list("composer", flat=True).distinct())
    found = sorted(name for name in names if matches(text, name))
    if not found:
        closeness = {name: _closeness(text, name) for name in names}
        close = sorted((name for name in names if closeness[name] >= CLOSE), key=lambda name: (-closeness[name], name))
        raise UnknownComposer(text, close[:SUGGESTIONS])
    return found


def _closeness(text, name):
    """How close a typo is to the name or to one of its words ("dvorjak" to "Dvořák")."""
    typed = folded(text)
    return max(difflib.SequenceMatcher(None, typed, candidate).ratio() for candidate in [folded(name), *words(name)])
