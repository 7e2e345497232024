"""Exceptions of recurnet_sim.

Every error a user can cause derives from :class:`RecurnetError`, so the CLI can print it as one
readable line and exit non-zero instead of showing a traceback. Like Nengo's exceptions, each also
derives from the matching builtin (``ValueError``...) so ordinary ``except ValueError`` still works.
"""
from __future__ import annotations


class RecurnetError(Exception):
    """Base class of every error recurnet_sim reports to a user."""


class ValidationError(RecurnetError, ValueError):
    """A value given for a key is not allowed.

    Parameters
    ----------
    path : str
        Dotted key path of the value, e.g. ``"network.learning"``.
    message : str
        What is wrong and what is allowed, e.g. ``"must be one of 'hebbian', 'storkey'; got 'hebb'"``.
    source : str, optional
        File the value came from (``"run.toml"``) or ``"--set"``.
    """

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.message = message
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        parts = [p for p in (self.source, self.path) if p]
        return ": ".join(parts + [self.message])


class ScenarioError(RecurnetError, ValueError):
    """One or more problems in a scenario or experiment file (all reported together)."""

    def __init__(self, errors: list[ValidationError] | str, source: str | None = None):
        if isinstance(errors, str):
            errors = [ValidationError("", errors, source)]
        self.errors = errors
        self.source = source
        super().__init__("\n".join(e.format() for e in errors))


class TraceFileError(RecurnetError, ValueError):
    """A trace or weights file is unreadable, truncated, or not one of ours."""


class SimulationError(RecurnetError, RuntimeError):
    """A command was given that the current model or state cannot carry out."""


class OutputError(RecurnetError, OSError):
    """A file cannot be written where it was asked for.

    The path is a directory, its parent is missing or is a file, the location is read-only, the
    name is too long, the disk is full, or it names an existing file recurnet did not write (see
    :mod:`recurnet_sim.writer`). The message is one line: ``"<path>: <what is wrong>"``.

    Parameters
    ----------
    path : the file that was to be written
    problem : what is wrong, e.g. ``"directory out does not exist"``
    errno_ : the operating system's error number, when the failure came from it
    key : the scenario key that named the path (``"training.save"``), put first in the message
    """

    def __init__(self, path, problem: str, errno_: int | None = None, key: str = ""):
        self.path = str(path)
        self.problem = problem
        self.key = key
        self.message = f"{key}: {self.path} {problem}" if key else f"{self.path}: {problem}"
        super().__init__(self.message)
        if errno_ is not None:
            self.errno = errno_

    def __str__(self) -> str:
        return self.message


def short_path(path, limit: int = 120) -> str:
    """A path for a message: in full, or its start and end with the length when it is very long
    (a 5000-character name would otherwise make the "one line" a page)."""
    s = str(path)
    if len(s) <= limit:
        return s
    return f"{s[:limit // 2]}...{s[-limit // 4:]} ({len(s)} characters)"


class InputError(RecurnetError, OSError):
    """An input file (scenario, experiment, patterns, image, weights, trace, task) cannot be read.

    It is missing, a directory, a FIFO, a device or a socket, its name is too long, or it is larger
    than the reader's cap (see :mod:`recurnet_sim.reader`). One line:
    ``"<key>: <path>: <what is wrong>"`` (``"<path>: <what is wrong>"`` without a key).
    """

    def __init__(self, path, problem: str, key: str = ""):
        self.path = str(path)
        self.problem = problem
        self.key = key
        shown = short_path(path)
        self.message = f"{key}: {shown}: {problem}" if key else f"{shown}: {problem}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message
