"""The one way recurnet_sim reads an input file (scenario, experiment, pattern file, image, weights,
trace, task file).

A path given by a user can name anything: a directory, a FIFO that blocks ``open`` for ever,
``/dev/urandom`` that never ends, ``/dev/zero`` that fills memory, a name longer than the system
allows. :func:`read_input` refuses anything that is not a regular file *before* reading from it
(the open itself is non-blocking, and the opened descriptor is checked again, so a file swapped
for a FIFO between the check and the open cannot hang either), and reads at most ``max_bytes``
(a larger file is refused with "larger than N MB", never read to the end). Every failure is one
:class:`~recurnet_sim.errors.InputError` line naming the file and, when given, the key that named it.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import InputError

#: Default cap of an input file: scenario and experiment files, pattern and task files are small.
MAX_TEXT_BYTES = 16 * 2**20
#: Cap of a binary input (weights, traces, images).
MAX_BINARY_BYTES = 1024 * 2**20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno == errno.ENOTDIR:
        return "a parent of this path is not a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return f"cannot read: {exc.strerror or exc}"


def check_input(path: str | os.PathLike, key: str = "", max_bytes: int = MAX_TEXT_BYTES) -> Path:
    """Check that ``path`` is a readable regular file of at most ``max_bytes`` without opening it.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        Missing, a directory, a FIFO, a device, a socket, a name too long, or too large.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL byte
        problem = _os_problem(exc) if isinstance(exc, OSError) else "not a valid path (NUL byte)"
        raise InputError(p, problem, key) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(p, _kind(st.st_mode), key)
    if st.st_size > max_bytes:
        raise InputError(p, f"is larger than {_mb(max_bytes)} ({_mb(st.st_size)}); refused", key)
    return p


def read_input(path: str | os.PathLike, key: str = "", max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Parameters
    ----------
    path : the file
    key : the scenario key (or command-line flag) that named it, put first in any message
    max_bytes : refuse a larger file (it is never read to the end)

    Raises
    ------
    InputError
        See :func:`check_input`; also when the file grows past the cap while it is read.
    """
    p = check_input(path, key, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise InputError(p, _os_problem(exc), key) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped after the check
            raise InputError(p, _kind(st.st_mode), key)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise InputError(p, f"is larger than {_mb(max_bytes)}; refused", key)
    except OSError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(p, _os_problem(exc), key) from None
    finally:
        os.close(fd)
    return b"".join(chunks)
