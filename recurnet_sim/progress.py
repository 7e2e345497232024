"""Progress on stderr for long headless work (training, long runs, batch sweeps).

On a terminal the status line is rewritten in place; on a pipe or a log file a full line is
written at most every ``log_interval`` seconds, so CI logs stay short. Nothing is shown for work
that finishes within ``delay`` seconds.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """One self-updating status line.

    Parameters
    ----------
    label : str
        Prefix of every line, e.g. ``"training (ahs1985)"``.
    stream : text stream, default ``sys.stderr``
    delay : float
        Seconds before the first line is shown.
    interval : float
        Minimum seconds between rewrites on a terminal.
    log_interval : float
        Minimum seconds between lines when the stream is not a terminal.
    enabled : bool
        False shows nothing (a scenario that asked for quiet training).
    """

    def __init__(self, label: str, stream: TextIO | None = None, delay: float = 0.5, interval: float = 0.2,
                 log_interval: float = 5.0, enabled: bool = True):
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.delay = delay
        self.interval = interval if self.tty else log_interval
        self._last = -1e9
        self._shown = False
        self._width = 0

    def update(self, text, force: bool = False) -> None:
        """Show ``text`` (a string, or a callable making it — only called when shown)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and (now - self.start < self.delay or now - self._last < self.interval):
            return
        self._last = now
        line = f"{self.label}: {text() if callable(text) else text}"
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def close(self, text: str | None = None) -> None:
        """Finish: print ``text`` as the last line (if anything was shown), end the terminal line."""
        if text is not None and self._shown:
            self.update(text, force=True)
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
