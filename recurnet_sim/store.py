"""The result store of a batch run: one SQLite database, ``results.db``, in the output directory.

Every finished grid point is one row of the ``points`` table (its index, its compute time and its
trial rows as JSON), committed by the driver in one transaction per finished task (a task carries
many points, see :mod:`recurnet_sim.batch`). ``results.csv``, ``summary.csv``, ``meta.json`` and the
plots are exports of the store, written when the run ends; ``--resume`` reads the store. Because
points are stored by index and exported in index order, the exports do not depend on the order in
which points arrive, nor on the executor that computed them.

Why SQLite (stdlib :mod:`sqlite3`)
----------------------------------
* one file instead of one file per point (shared HPC file systems penalise millions of small files);
* crash safety: the database is in WAL mode with ``synchronous = NORMAL``, so a committed point
  survives the driver being killed (``kill -9``) — an unfinished transaction is rolled back at the
  next open, never half-applied. (A power cut may lose the last commits, never the file.)
* only the driver process opens it: workers return rows, so the store needs no shared disk. Keep
  ``--out`` on a local disk of the driver: SQLite's WAL mode needs shared memory and is not safe on
  network file systems.

Ownership and locking
---------------------
The empty database is created through :func:`recurnet_sim.writer.write_bytes` (atomic, and a
``results.db`` that recurnet did not write is refused unless ``--force``), then opened in place. A
recurnet store is recognised by its SQLite ``application_id`` and its ``meta`` table; any other file
of that name is refused by ``--resume``. One run at a time: :class:`RunLock` holds an exclusive
``flock`` on ``results.lock`` (an empty file, created once through the writer) for the whole run, so
a second run, or a concurrent ``--resume``, is refused with one line. The kernel drops the lock when
the process dies, so a killed run leaves no stale lock behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from .errors import RecurnetError
from .writer import check_target, write_bytes, written_by_recurnet

STORE = "results.db"
LOCK = "results.lock"
#: SQLite application_id of a recurnet result store ("RCNB")
APPLICATION_ID = 0x52434E42
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE points (idx INTEGER PRIMARY KEY, elapsed_s REAL NOT NULL, rows TEXT NOT NULL);
"""


class StoreError(RecurnetError):
    """The output directory's store cannot be used (foreign file, locked, damaged)."""


def _empty_database(spec_hash: str, info: dict) -> bytes:
    """The bytes of a new, empty store (schema, application id, meta)."""
    def fill(con: sqlite3.Connection) -> None:
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [("spec_hash", spec_hash), ("info", json.dumps(info, sort_keys=True)),
                         ("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))])
        con.commit()

    con = sqlite3.connect(":memory:")
    if hasattr(con, "serialize"):
        try:
            fill(con)
            return con.serialize()
        finally:
            con.close()
    con.close()  # pragma: no cover - an SQLite built without sqlite3_serialize
    with tempfile.TemporaryDirectory() as tmp:  # pragma: no cover
        p = Path(tmp) / STORE
        con = sqlite3.connect(p)
        fill(con)
        con.close()
        return p.read_bytes()


class ResultStore:
    """The open store of one run (driver side only).

    Use :meth:`create` for a new run and :meth:`open` for ``--resume``; close it with :meth:`close`
    (or as a context manager).
    """

    def __init__(self, path: Path, con: sqlite3.Connection):
        self.path = path
        self.con = con

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def create(cls, out: Path, spec_hash: str, info: dict | None = None) -> "ResultStore":
        """Create ``out/results.db`` (refused if a file recurnet did not write is there, unless forced)."""
        path = Path(out) / STORE
        for side in ("-wal", "-shm"):
            # a journal left next to a file we are about to replace would be applied to it
            if os.path.lexists(f"{path}{side}") and not os.path.lexists(path):
                os.unlink(f"{path}{side}")
        write_bytes(path, _empty_database(spec_hash, info or {}))
        return cls._connect(path)

    @classmethod
    def open(cls, out: Path) -> "ResultStore":
        """Open an existing store (``--resume``); a file that is not a recurnet store is refused."""
        path = Path(out) / STORE
        if not path.is_file():
            raise StoreError(f"{path}: no result store here")
        with open(path, "rb") as fh:
            head = fh.read(100)
        # the SQLite header: magic string, application_id at bytes 68-71 (big-endian)
        if not head.startswith(b"SQLite format 3\x00") or int.from_bytes(head[68:72], "big") != APPLICATION_ID:
            raise StoreError(f"{path}: exists and is not a recurnet result store; choose another --out "
                             f"(or remove the file)")
        return cls._connect(path)

    @classmethod
    def _connect(cls, path: Path) -> "ResultStore":
        try:
            con = sqlite3.connect(path, timeout=30, isolation_level=None)
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - a file system without shared memory
                con.execute("PRAGMA journal_mode = DELETE")
            con.execute("PRAGMA synchronous = NORMAL")
            con.execute("SELECT count(*) FROM points").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the result store ({exc})") from None
        return cls(path, con)

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(sqlite3.Error):
                self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.con.close()
            self.con = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- meta ---------------------------------------------------------------------------------
    def get(self, key: str, default=None):
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def put(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @property
    def spec_hash(self) -> str | None:
        return self.get("spec_hash")

    # -- points -------------------------------------------------------------------------------
    def add(self, points: Iterable[tuple[int, float, list]]) -> int:
        """Store finished points ``(index, elapsed_s, rows)`` in one transaction; returns how many.

        A point stored twice (recomputed after a lost worker) keeps one row: its rows are the same,
        because they depend only on the experiment and the index."""
        data = [(int(i), float(el), json.dumps(rows, separators=(",", ":"))) for i, el, rows in points]
        if not data:
            return 0
        cur = self.con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?)", data)
            cur.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            raise
        return len(data)

    def count(self, n_points: int | None = None) -> int:
        if n_points is None:
            return self.con.execute("SELECT count(*) FROM points").fetchone()[0]
        return self.con.execute("SELECT count(*) FROM points WHERE idx < ?", (n_points,)).fetchone()[0]

    def done(self, n_points: int) -> set[int]:
        """Indices of the stored points below ``n_points``."""
        return {i for (i,) in self.con.execute("SELECT idx FROM points WHERE idx < ?", (n_points,))}

    def iter_points(self, n_points: int, batch: int = 2048) -> Iterator[tuple[int, list]]:
        """``(index, rows)`` of every stored point below ``n_points``, in index order (streamed)."""
        cur = self.con.execute("SELECT idx, rows FROM points WHERE idx < ? ORDER BY idx", (n_points,))
        while True:
            chunk = cur.fetchmany(batch)
            if not chunk:
                return
            for i, rows in chunk:
                yield i, json.loads(rows)

    def elapsed_total(self) -> float:
        return float(self.con.execute("SELECT coalesce(sum(elapsed_s), 0) FROM points").fetchone()[0])


def store_exists(out: Path) -> bool:
    return os.path.lexists(Path(out) / STORE)


def check_new_store(out: Path) -> None:
    """Refuse now (before any work) a ``results.db`` in ``out`` that recurnet did not write."""
    check_target(Path(out) / STORE)


# ---------------------------------------------------------------------------------------------
# one run at a time
# ---------------------------------------------------------------------------------------------
class RunLock:
    """An exclusive, non-blocking ``flock`` on ``out/results.lock`` for the whole run.

    Raises StoreError (one line) when another process holds it. The kernel releases it when the
    holder exits or is killed, so a ``kill -9`` leaves nothing stale. Where ``flock`` does not exist
    (Windows) or the file system refuses it, the run goes on unlocked.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = self.out / LOCK
        self.fd: int | None = None

    def acquire(self, owner: str = "") -> "RunLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        for _ in range(5):
            if not os.path.lexists(self.path) or not written_by_recurnet(self.path):
                write_bytes(self.path, b"")  # refused if the file is not recurnet's (unless forced)
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                who = _owner(self.out)
                raise StoreError(f"{self.out} is in use by another recurnet batch run{who}; wait for it to "
                                 f"finish, or choose another --out") from None
            except OSError:  # pragma: no cover - no flock on this file system
                os.close(fd)
                return self
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not replaced between our open and our lock
                self.fd = fd
                return self
            os.close(fd)
        raise StoreError(f"{self.path}: cannot lock the output directory")  # pragma: no cover

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def owner_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}"


def _owner(out: Path) -> str:
    """`` (pid P on HOST, since T)`` from the store of the run that holds the lock, if readable."""
    with contextlib.suppress(Exception):
        con = sqlite3.connect(f"file:{Path(out) / STORE}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'owner'").fetchone()
        finally:
            con.close()
        if row:
            return f" ({row[0]})"
    return ""
