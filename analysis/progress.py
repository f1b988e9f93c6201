"""Progress callbacks for work on workers: every call reaches the caller's own callback
(a progress bar), the database row at most once a second."""

import time

WRITE_EVERY_SECONDS = 1.0


def throttled(write, also=None, *, final=lambda *args: False):
    """A callback that passes its arguments to `also` on every call and to `write` at most
    once every WRITE_EVERY_SECONDS, and always when `final(*args)` says it is the last."""
    last = float("-inf")

    def report(*args):
        nonlocal last
        if also:
            also(*args)
        now = time.monotonic()
        if now - last >= WRITE_EVERY_SECONDS or final(*args):
            last = now
            write(*args)

    return report
