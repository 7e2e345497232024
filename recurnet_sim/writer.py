"""The one writer every file recurnet_sim writes goes through.

Weights, traces, screenshots, frames, GIFs and batch files (CSV, JSON, plots, the result store) are all
written by :func:`write_file` (or its :func:`write_text` / :func:`write_bytes` shorthands), which

* is **atomic**: the data go to a temporary file in the target's directory, are flushed and
  ``fsync``-ed, then ``os.replace`` puts the file in place; on any failure the temporary file is
  removed, so an interrupted or failed save never leaves half a file (nor a stray temporary) behind;
* **refuses to replace a file recurnet did not write** (the scenario file above all, or a file the
  user edited) unless ``force=True`` (``--force`` on the command line);
* turns every way a path can be wrong (a directory, a missing parent, a parent that is a file, a
  read-only location, a name too long, a full disk) into one :class:`~recurnet_sim.errors.OutputError`
  line naming the path and what is wrong.

:func:`check_target` runs the same checks without writing, so the CLI refuses a bad ``--trace`` or
``training.save`` path in no time, before a long run or training starts.

How recurnet knows it wrote a file
----------------------------------
Each directory recurnet writes into holds a small manifest, ``.recurnet-written``: one JSON line
``{"name": ..., "sha256": ...}`` per file written there (the last line for a name wins). An existing
file may be replaced only when its current SHA-256 equals the one recorded for its name, i.e. it is
byte-for-byte what recurnet last wrote; anything else (a file recurnet never wrote, or one edited
since) is refused. Lines are appended with one ``write`` on an ``O_APPEND`` descriptor while holding
an exclusive ``flock`` on the directory (where the platform has one), so concurrent writers (batch
workers, two runs) never lose each other's entries; the manifest is compacted (rewritten atomically)
when it holds many superseded lines.
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import io
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import OutputError

#: name of the per-directory record of what recurnet wrote there
MANIFEST = ".recurnet-written"

_REFUSAL = "exists and was not written by recurnet; use --force to replace it"

# errno -> what to tell the user
_ERRNO_TEXT = {
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "is on a read-only file system",
    errno.EACCES: "permission denied (read-only location?)",
    errno.EPERM: "operation not permitted (read-only location?)",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a parent of it is not a directory",
    errno.ENOENT: "its directory does not exist",
}
if hasattr(errno, "EDQUOT"):
    _ERRNO_TEXT[errno.EDQUOT] = "disk quota exceeded"
if hasattr(errno, "EFBIG"):
    _ERRNO_TEXT[errno.EFBIG] = "file too large for this file system"

_lock = threading.Lock()  # one thread at a time updates a manifest (flock only serialises processes)
# directory -> (st_dev, st_ino, bytes read, {name: sha256}): manifests are append-only, so a
# process re-reads only what was appended since it last looked (writing 10 000 frames stays linear)
_cache: dict[str, tuple[int, int, int, dict[str, str]]] = {}
_umask: int | None = None
# ``--force`` for everything written inside :func:`forcing` (the CLI sets it around a whole run, so a
# family's save_weights, called with a path only, honours it too)
_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar("recurnet_force", default=False)
_umask_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def forcing(force: bool = True) -> Iterator[None]:
    """Inside this block, writes whose ``force`` is not given replace any file (``--force``)."""
    token = _FORCE.set(bool(force))
    try:
        yield
    finally:
        _FORCE.reset(token)


def _force(force: bool | None) -> bool:
    return _FORCE.get() if force is None else bool(force)


def check_target(path: str | os.PathLike, *, force: bool | None = None) -> Path:
    """Check that ``path`` can be written, without writing anything.

    Parameters
    ----------
    path : the file recurnet is going to write
    force : allow replacing an existing file recurnet did not write (default: as set by
        :func:`forcing`, else False)

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        ``path`` is a directory, its parent is missing or is a file, the location is read-only,
        the name is too long for the file system, or it names an existing file that recurnet did
        not write (and ``force`` is false).
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise OutputError(path, "is a directory, not a file name")
    if path.name == MANIFEST:
        raise OutputError(path, "is recurnet's own record of the files it wrote; choose another name")
    parent = path.parent
    if os.path.isdir(path):
        raise OutputError(path, "is a directory, not a file")
    if not os.path.exists(parent):
        # name the first missing directory, so the fix is obvious
        missing = parent
        while not os.path.exists(missing.parent) and missing.parent != missing:
            missing = missing.parent
        if os.path.lexists(missing.parent) and not os.path.isdir(missing.parent):
            raise OutputError(path, f"its parent {missing.parent} is a file, not a directory")
        raise OutputError(path, f"directory {parent} does not exist")
    if not os.path.isdir(parent):
        raise OutputError(path, f"its parent {parent} is a file, not a directory")
    limit = _name_max(parent)
    if len(os.fsencode(path.name)) > limit:
        raise OutputError(path, f"file name too long ({len(os.fsencode(path.name))} bytes; "
                                f"this file system allows {limit})")
    if _read_only(parent):
        raise OutputError(path, f"directory {parent} is read-only")
    if not _force(force) and os.path.lexists(path) and not _written_by_us(path):
        raise OutputError(path, _REFUSAL)
    return path


def check_dir(path: str | os.PathLike) -> Path:
    """Check that ``path`` is, or can be made, a directory recurnet writes files into (``--record``).

    Raises
    ------
    OutputError
        ``path`` is a file, or its parent is missing, is a file or is read-only.
    """
    path = Path(path)
    if os.path.isdir(path):
        if _read_only(path):
            raise OutputError(path, "directory is read-only")
        return path
    if os.path.lexists(path):
        raise OutputError(path, "exists and is not a directory")
    check_target(path, force=True)  # the same checks of its parent
    return path


def write_file(path: str | os.PathLike, write: Callable[[BinaryIO], None], *, force: bool | None = None) -> Path:
    """Write a file atomically through ``write(fh)``, which writes the content to a binary file.

    Parameters
    ----------
    path : the file to write; its directory must exist
    write : callable(binary file) -> None
        Writes the whole content (``np.savez(fh, ...)``, ``image.save(fh, format="PNG")``...). It
        may seek in the file.
    force : replace an existing file even if recurnet did not write it (default: as set by
        :func:`forcing`, else False)

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OutputError
        The path cannot be written (see :func:`check_target`), or the write failed (full disk,
        read-only file system, permission denied). No temporary file is left behind.
    Exception
        Whatever ``write`` raises for a reason other than the file system is re-raised unchanged
        (after the temporary file is removed).
    """
    force = _force(force)
    path = check_target(path, force=force)
    parent = path.parent
    tmp_name = None
    try:
        # A short, unique temporary name: the target's own name may already be at NAME_MAX.
        fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
        with os.fdopen(fd, "w+b") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            _chmod_default(fh.fileno())
            fh.seek(0)
            digest = _sha256_file(fh)
        with _locked(parent):
            if not force and os.path.lexists(path) and not _written_by_us(path):
                raise OutputError(path, _REFUSAL)  # appeared or changed while we were writing
            os.replace(tmp_name, path)
            tmp_name = None
            _fsync_dir(parent)
            _record(parent, path.name, digest)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise _as_output_error(path, exc) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return path


def write_bytes(path: str | os.PathLike, data: bytes, *, force: bool | None = None) -> Path:
    """Write ``data`` to ``path`` through :func:`write_file`."""
    return write_file(path, lambda fh: fh.write(data), force=force)


def write_text(path: str | os.PathLike, text: str, *, force: bool | None = None) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` through :func:`write_file`."""
    return write_bytes(path, text.encode("utf-8"), force=force)


def written_by_recurnet(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists and is byte-for-byte the file recurnet last wrote there."""
    path = Path(path)
    return os.path.isfile(path) and _written_by_us(path)


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _read_only(directory: Path) -> bool:
    try:
        st = os.statvfs(directory)
        if st.f_flag & getattr(os, "ST_RDONLY", 1):
            return True
    except (OSError, AttributeError):
        pass
    return not os.access(directory, os.W_OK | os.X_OK)


def _as_output_error(path: Path, exc: OSError) -> OutputError:
    text = _ERRNO_TEXT.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    if exc.errno == errno.ENOSPC:
        text = "cannot write: " + text
    return OutputError(path, text, errno_=exc.errno)


def _sha256_file(fh) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def _written_by_us(path: Path) -> bool:
    want = _manifest(path.parent).get(path.name)
    if want is None or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            return _sha256_file(fh) == want
    except OSError:
        return False


def _chmod_default(fd: int) -> None:
    """mkstemp creates files 0600; give the file the mode ``open()`` would (0666 minus umask)."""
    global _umask
    if not hasattr(os, "fchmod"):
        return
    if _umask is None:
        with _umask_lock:
            _umask = os.umask(0o022)
            os.umask(_umask)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666 & ~_umask)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); not possible everywhere, so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# the manifest
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Exclusive lock on ``directory`` (threads of this process, and other processes via flock)."""
    with _lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: threads only
            yield
            return
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            yield
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass  # a file system without flock: still atomic per line, only compaction may race
            yield
        finally:
            os.close(fd)  # releases the lock


def _manifest(directory: Path) -> dict[str, str]:
    """{file name: sha256} of what recurnet last wrote in ``directory``."""
    mpath = os.path.join(directory, MANIFEST)
    key = os.path.abspath(directory)
    try:
        st = os.stat(mpath)
    except OSError:
        _cache.pop(key, None)
        return {}
    cached = _cache.get(key)
    if cached and cached[0] == st.st_dev and cached[1] == st.st_ino and cached[2] <= st.st_size:
        dev, ino, offset, entries = cached
        entries = dict(entries)
    else:
        offset, entries = 0, {}
    try:
        with open(mpath, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return {}
    # only whole lines count (a line being appended right now is read next time)
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        try:
            entry = json.loads(line)
            entries[str(entry["name"])] = str(entry["sha256"])
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line only loses that entry (the file is then refused, not lost)
    _cache[key] = (st.st_dev, st.st_ino, offset + end, entries)
    return entries


def _record(directory: Path, name: str, digest: str) -> None:
    """Append ``name``'s hash to the manifest (caller holds :func:`_locked`)."""
    mpath = os.path.join(directory, MANIFEST)
    line = (json.dumps({"name": name, "sha256": digest}, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(mpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > 64 * 1024:
        entries = _manifest(Path(directory))
        if size > 3 * 100 * (len(entries) + 1):  # mostly superseded lines: rewrite it compacted
            _compact(directory, entries)


def _compact(directory: Path, entries: dict[str, str]) -> None:
    mpath = os.path.join(directory, MANIFEST)
    buf = io.BytesIO()
    for n, d in entries.items():
        if os.path.lexists(os.path.join(directory, n)):
            buf.write((json.dumps({"name": n, "sha256": d}, ensure_ascii=False) + "\n").encode("utf-8"))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{MANIFEST}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
            _chmod_default(fh.fileno())
        os.replace(tmp, mpath)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _cache.pop(os.path.abspath(directory), None)
