"""`manage.py stop` (`make stop`): stop the platform that `manage.py up` or `manage.py demo`
runs from this data folder, e.g. one started in the background (`make run &`), whose
make ignores the SIGINT a shell sends it."""

import os
import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from messsite.launcher import running_pid


class Command(BaseCommand):
    help = "Stop the platform running from this data folder (as Ctrl-C does) and wait until it has stopped."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60, help="Seconds to wait (default 60).")

    def handle(self, timeout, **options):
        pid = running_pid()
        if pid is None:
            self.stdout.write(f"MESS is not running from {settings.DATA_DIR}.")
            return
        self.stdout.write(f"Stopping MESS (pid {pid})...")
        # The launcher stops its worker, web front and engines in order on SIGTERM.
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        # The lock goes when the services have stopped; the launcher still prints and exits after.
        while running_pid() == pid or not _exited(pid):
            if time.monotonic() > deadline:
                raise CommandError(f"MESS (pid {pid}) has not stopped after {timeout:g} s.")
            time.sleep(0.2)
        self.stdout.write("Stopped.")


def _exited(pid):
    """Whether process `pid` has ended (a zombie waiting for its parent has). Without /proc
    (not Linux) it says yes, and the released lock alone tells that the platform stopped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
