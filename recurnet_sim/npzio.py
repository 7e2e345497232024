"""Reading and writing ``.npz`` files safely: traces and learned weights are data, never code.

Every file recurnet_sim writes carries a *format marker* (a string array) so a foreign or
mismatched file is recognised; every read uses ``allow_pickle=False`` and turns any way a file can
be wrong (missing, truncated, not a zip, pickled arrays, a bare ``.npy``, no marker) into one
:class:`~recurnet_sim.errors.TraceFileError` naming the file. Writes go through the one atomic
writer (:mod:`recurnet_sim.writer`), so an interrupted save never leaves half a file behind and no
save silently replaces a file recurnet did not write.
"""
from __future__ import annotations

import os
import pathlib
import zipfile
from typing import Mapping

import numpy as np

from .errors import TraceFileError

MARKER_KEY = "format"


def read_npz(path: str | os.PathLike, what: str, marker: str | None = None,
             required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, checked.

    Parameters
    ----------
    path : file to read
    what : what the file should hold, for messages ("BAM weights", "trace")
    marker : expected value of the file's ``format`` entry (None: no check)
    required : names of arrays that must be present

    Returns
    -------
    dict of name -> ndarray (string scalars come back as ``str``)
    """
    import io

    from .errors import InputError
    from .reader import MAX_BINARY_BYTES, read_input

    path = pathlib.Path(path)
    try:
        raw = read_input(path, max_bytes=MAX_BINARY_BYTES)  # a FIFO or a device is refused, not read
    except InputError as exc:
        if exc.problem == "no such file":
            raise TraceFileError(f"{exc.message.rsplit(': ', 1)[0]}: no such {what} file") from None
        raise TraceFileError(f"{exc.message} ({what} file expected)") from None
    try:
        z = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise TraceFileError(f"{path}: expected an .npz archive of {what}, got a single .npy array")
        with z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise TraceFileError(f"{path}: is a directory, not a {what} file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        # ValueError also covers "Object arrays cannot be loaded when allow_pickle=False".
        raise TraceFileError(f"{path}: not a readable {what} file (truncated, pickled or not .npz: "
                             f"{type(exc).__name__})") from None
    for k, v in data.items():
        # Only plain numbers, booleans and text: a structured or raw-bytes array is nothing we wrote.
        if v.dtype.kind not in "biufcU" or v.dtype.fields is not None:
            raise TraceFileError(f"{path}: array {k!r} of {what} has dtype {v.dtype.str!r} (structured or "
                                 "not numeric/text); not a recurnet_sim file")
    data = {k: (str(v) if v.dtype.kind == "U" and v.ndim == 0 else v) for k, v in data.items()}
    if MARKER_KEY in data and not isinstance(data[MARKER_KEY], str):
        raise TraceFileError(f"{path}: the {MARKER_KEY!r} entry of this {what} file is an array of shape "
                             f"{data[MARKER_KEY].shape}, not a text marker; not a recurnet_sim file")
    if marker is not None and data.get(MARKER_KEY) != marker:
        found = data.get(MARKER_KEY)
        extra = f" (its format is {found!r})" if isinstance(found, str) else ""
        raise TraceFileError(f"{path}: not a recurnet_sim {what} file: expected format {marker!r}{extra}")
    missing = [k for k in required if k not in data]
    if missing:
        raise TraceFileError(f"{path}: {what} file lacks {', '.join(missing)}")
    return data


def write_npz(path: str | os.PathLike, arrays: Mapping[str, object], marker: str | None = None,
              compressed: bool = False, *, force: bool | None = None) -> pathlib.Path:
    """Write arrays (plus the ``format`` marker) to ``path`` through the atomic writer
    (:func:`recurnet_sim.writer.write_file`: refuses to replace a file recurnet did not write
    unless ``force``); returns the path.

    Raises
    ------
    OutputError
        The path cannot be written (see :func:`recurnet_sim.writer.check_target`).
    TraceFileError
        An array is not numeric or text.
    """
    path = pathlib.Path(path)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise TraceFileError(f"{path}: array {k!r} is not numeric or text (object arrays are never written)")
    if marker is not None:
        payload[MARKER_KEY] = np.array(marker)
    from .writer import write_file

    save = np.savez_compressed if compressed else np.savez
    return write_file(path, lambda fh: save(fh, **payload), force=force)
