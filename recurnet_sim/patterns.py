"""Stored patterns: the builtin bitmaps, their text format, PNG import, and random corruption.

Patterns are *bipolar*: ``int8`` arrays with values in {-1, +1}, one pattern per row, shape
``(n_patterns, n_units)``. A 2-D picture of ``shape = (rows, cols)`` is flattened row-major, so
unit ``i`` sits at row ``i // cols``, column ``i % cols``.

Text bitmap format (``assets/patterns/*.txt``)
----------------------------------------------
Plain UTF-8 text that a person can read and edit::

    ; a comment: any line whose first non-blank character is ';'
    = A
    ..........
    ...####...
    ...           (exactly as many rows as every other glyph)

    = B
    ...

* ``= NAME`` starts a glyph; NAME is the rest of the line with surrounding blanks removed
  (non-empty, printable, unique within the file).
* Each following non-blank line is one row: ``#`` = on (+1), ``.`` = off (-1). Blanks around a row
  are ignored; any other character is an error.
* A blank line ends the rows of a glyph; blank lines between glyphs are free. Comment lines may
  appear anywhere, also between rows.
* All rows of all glyphs have the same width and every glyph has the same number of rows, so the
  file describes one grid ``shape = (rows, cols)``.

Every problem in a file raises :class:`PatternFileError` naming the file, the line number and what
was expected, e.g. ``letters.txt: line 14: row has 9 columns, expected 10``.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import RecurnetError, ValidationError

ON, OFF = "#", "."
COMMENT = ";"
#: Most units an image may give (the largest ``network.size`` a scenario may ask for).
MAX_UNITS = 20000
#: Most pixels an image may have before decoding (a resize to ``shape`` may follow).
MAX_IMAGE_PIXELS = 4 * 10**6
#: Most bits (patterns x units) drawn by :func:`random_patterns` (100 MB as int8).
MAX_RANDOM_BITS = 10**8
#: Largest text bitmap file read.
MAX_PATTERN_FILE_BYTES = 16 * 2**20
HEADER = "="

#: Grid shape (rows, cols) of every builtin glyph.
GLYPH_SHAPE: tuple[int, int] = (12, 10)

#: Builtin sets -> the files (in ``assets_dir()/patterns``) they are made of, in order.
BUILTIN_SETS: dict[str, tuple[str, ...]] = {
    "letters": ("letters.txt",),
    "digits": ("digits.txt",),
    "alphanumeric": ("letters.txt", "digits.txt"),
}


class PatternFileError(RecurnetError, ValueError):
    """A pattern file (or a pattern name) is malformed or unknown.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file concerned; its *name* heads the message (``letters.txt: ...``).
    message : str
        What is wrong and what was expected.
    line : int, optional
        1-based line number in the file.
    """

    def __init__(self, path: str | os.PathLike | None, message: str, line: int | None = None):
        self.path = None if path is None else str(path)
        self.message = message
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.path is not None:
            from .errors import short_path

            parts.append(short_path(Path(self.path).name or self.path))
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ": ".join(parts + [self.message])


# ----------------------------------------------------------------------------------------------
# PatternSet
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PatternSet:
    """Named bipolar patterns that share one grid shape.

    Parameters
    ----------
    names : tuple of str
        One unique name per pattern (``"A"``, ``"7"``, a file stem ...).
    patterns : ndarray, shape (n_patterns, n_units), int8
        Values in {-1, +1}. Stored as a read-only copy, so a set (e.g. a builtin one) can be shared
        without one user's in-place edit changing another's patterns; ``.copy()`` it to edit.
    shape : (int, int) or None
        ``(rows, cols)`` of the picture each pattern is drawn in (``rows * cols == n_units``), or
        None when the patterns are not pictures.
    source : str, optional
        Where the set came from (a file path), used to head error messages.
    """

    names: tuple[str, ...]
    patterns: np.ndarray
    shape: tuple[int, int] | None = None
    source: str | None = None

    def __post_init__(self):
        names = tuple(self.names)
        for n in names:
            if not isinstance(n, str) or not n:
                raise ValueError(f"pattern names must be non-empty strings, got {n!r}")
        dup = _first_duplicate(names)
        if dup is not None:
            raise ValueError(f"duplicate pattern name {dup!r}")
        p = np.asarray(self.patterns)
        if p.ndim != 2:
            raise ValueError(f"patterns must have shape (n_patterns, n_units), got shape {p.shape}")
        if p.shape[0] != len(names):
            raise ValueError(f"{len(names)} names for {p.shape[0]} patterns")
        if p.size and not np.isin(p, (-1, 1)).all():
            raise ValueError("patterns must hold only -1 and +1")
        p = p.astype(np.int8, copy=True)
        p.flags.writeable = False
        shape = self.shape
        if shape is not None:
            shape = (int(shape[0]), int(shape[1]))
            if shape[0] * shape[1] != p.shape[1]:
                raise ValueError(f"shape {shape} does not hold {p.shape[1]} units")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "patterns", p)
        object.__setattr__(self, "shape", shape)

    @property
    def n_units(self) -> int:
        return self.patterns.shape[1]

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other) -> bool:
        if not isinstance(other, PatternSet):
            return NotImplemented
        return (
            self.names == other.names
            and self.shape == other.shape
            and np.array_equal(self.patterns, other.patterns)
        )

    __hash__ = None  # type: ignore[assignment]  # holds an array; equal sets need not hash alike

    def __repr__(self) -> str:
        names = list(self.names[:8]) + (["..."] if len(self.names) > 8 else [])
        return (
            f"PatternSet({len(self)} patterns x {self.n_units} units, shape={self.shape}, "
            f"names={names})"
        )

    def index(self, name: str) -> int:
        """Position of the pattern called ``name``.

        Raises
        ------
        PatternFileError
            If there is no such pattern (the message lists the available names).
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise self._unknown(name) from None

    def select(self, names: str | Iterable[str]) -> "PatternSet":
        """The sub-set of the given names, in the given order (a single name is allowed).

        Raises
        ------
        PatternFileError
            Naming the first unknown name and listing the available ones.
        """
        if isinstance(names, str):
            names = [names]
        names = list(names)
        idx = [self.index(n) for n in names]
        return PatternSet(tuple(names), self.patterns[idx], self.shape, self.source)

    def _unknown(self, name) -> PatternFileError:
        hint = difflib.get_close_matches(str(name), self.names, n=1, cutoff=0.6)
        if not hint:
            # One-character names (letters) are too short for difflib; case is the usual slip.
            hint = [n for n in self.names if n.lower() == str(name).lower()][:1]
        msg = f"unknown pattern {name!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        msg += "; available: " + ", ".join(self.names)
        return PatternFileError(self.source, msg)


def _first_duplicate(names: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


# ----------------------------------------------------------------------------------------------
# Text bitmaps
# ----------------------------------------------------------------------------------------------
#: parsed bitmap files of this process: (path, shape, file identity) -> PatternSet (read-only, so
#: shared); a file whose modification time, size or inode changed is parsed again
_BITMAP_CACHE: dict[tuple, "PatternSet"] = {}
_BITMAP_CACHE_MAX = 256
#: deletes the two row characters: what is left of a row is its bad characters
_NOT_ROW_CHARS = str.maketrans("", "", ON + OFF)


#: a file changed less than this long ago (ns) is not cached: file times tick in steps of a
#: clock tick on some systems, so a same-size rewrite within one could keep its identity (git's
#: "racily clean" rule)
_RACY_NS = 2_000_000_000


def _file_identity(path: Path) -> tuple | None:
    """(device, inode, size, mtime_ns, ctime_ns) of a regular file that has not changed in the
    last :data:`_RACY_NS`, else None (not cached; the reader's own checks report FIFOs, devices
    and missing files)."""
    import stat
    import time

    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode) or time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _cached_parse(cache: dict, limit: int, path: Path, extra: tuple, parse, keep=None) -> tuple[Any, bool]:
    """``(parse(), False)``, or ``(cached, True)`` while ``path``'s :func:`_file_identity` is the one
    it was parsed at (the key: the path, ``extra`` and that identity; the parse caches of patterns
    and scenarios). The result is kept (``keep(result)`` if given) only if the file did not change
    while it was read; a cache of ``limit`` entries is emptied first."""
    ident = _file_identity(path)
    key = None if ident is None else (str(path), *extra, ident)
    if key is not None and key in cache:
        return cache[key], True
    out = parse()
    if key is not None and _file_identity(path) == ident:  # unchanged while it was read
        if len(cache) >= limit:
            cache.clear()
        cache[key] = out if keep is None else keep(out)
    return out, False


def load_bitmaps(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> PatternSet:
    """Read a text bitmap file (format in the module docstring).

    A file read once in this process is not parsed again while its identity (inode, size,
    modification and change times) is the same: the parsed set is read-only and shared.

    Parameters
    ----------
    path : str or os.PathLike
    shape : (int, int), optional
        Required ``(rows, cols)`` of every glyph; by default the first glyph sets the shape.

    Returns
    -------
    PatternSet
        ``patterns`` of shape ``(n_glyphs, rows * cols)``, in file order; ``shape = (rows, cols)``.

    Raises
    ------
    PatternFileError
        For anything that is not a well-formed bitmap file: missing or unreadable file, binary or
        non-UTF-8 content, no glyphs, rows outside a glyph, unknown characters, rows or glyphs of
        different size, empty or duplicate names.
    """
    path = Path(path)
    extra = (None if shape is None else tuple(int(x) for x in shape),)
    return _cached_parse(_BITMAP_CACHE, _BITMAP_CACHE_MAX, path, extra, lambda: _parse_bitmaps(path, shape))[0]


def _parse_bitmaps(path: Path, shape: tuple[int, int] | None) -> PatternSet:
    from .errors import InputError
    from .reader import read_input

    try:
        data = read_input(path, max_bytes=MAX_PATTERN_FILE_BYTES)  # no FIFO, device or huge file
    except InputError as e:
        raise PatternFileError(path, f"cannot read the file: {e.problem}") from None
    text = _decode(path, data)

    glyphs: list[tuple[str, int, list[str]]] = []  # (name, header line, rows)
    first_line: dict[str, int] = {}
    width: int | None = None if shape is None else int(shape[1])
    in_glyph = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if line.startswith(COMMENT):
            continue
        if not line:
            in_glyph = False  # a blank line closes the rows of the current glyph
            continue
        if line.startswith(HEADER):
            name = line[len(HEADER):].strip()
            if not name:
                raise PatternFileError(path, f"empty glyph name, expected '{HEADER} NAME'", lineno)
            if not name.isprintable():
                raise PatternFileError(path, f"glyph name {name!r} contains control characters", lineno)
            if name in first_line:
                raise PatternFileError(
                    path, f"duplicate glyph name {name!r} (first defined on line {first_line[name]})", lineno
                )
            first_line[name] = lineno
            glyphs.append((name, lineno, []))
            in_glyph = True
            continue
        if not in_glyph:
            what = "after a blank line inside glyph" if glyphs else "before the first glyph"
            raise PatternFileError(
                path, f"row {what}: expected a '{HEADER} NAME' header line, got {_clip(line)}", lineno
            )
        if line.translate(_NOT_ROW_CHARS):  # one pass in C; the generator only finds which
            bad = next(c for c in line if c not in (ON, OFF))
            col = line.index(bad) + 1
            raise PatternFileError(
                path,
                f"unexpected character {bad!r} in column {col}: rows use '{ON}' (on) and '{OFF}' (off)",
                lineno,
            )
        if width is None:
            width = len(line)
        elif len(line) != width:
            raise PatternFileError(path, f"row has {len(line)} columns, expected {width}", lineno)
        glyphs[-1][2].append(line)

    if not glyphs:
        raise PatternFileError(path, f"no glyphs found: expected '{HEADER} NAME' header lines followed by rows")
    n_rows = None if shape is None else int(shape[0])
    for name, lineno, rows in glyphs:
        if not rows:
            raise PatternFileError(path, f"glyph {name!r} has no rows", lineno)
        if n_rows is None:
            n_rows = len(rows)
        elif len(rows) != n_rows:
            raise PatternFileError(path, f"glyph {name!r} has {len(rows)} rows, expected {n_rows}", lineno)
    assert width is not None and n_rows is not None

    # every row holds only the two ASCII row characters now: one byte per unit
    flat = "".join(r for _, _, rows in glyphs for r in rows).encode("ascii")
    chars = np.frombuffer(flat, dtype=np.uint8).reshape(len(glyphs), n_rows * width)
    patterns = np.where(chars == ord(ON), 1, -1).astype(np.int8)
    return PatternSet(tuple(g[0] for g in glyphs), patterns, (n_rows, width), str(path))


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise PatternFileError(path, "binary data (NUL byte): expected a text bitmap file", line)
    try:
        # utf-8-sig: a BOM written by some Windows editors is not a glyph character.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PatternFileError(
            path, f"not UTF-8 text (byte 0x{data[e.start]:02x}): expected a text bitmap file", line
        ) from None


def _clip(s: str, n: int = 20) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


def save_bitmaps(path: str | os.PathLike, pattern_set: PatternSet) -> None:
    """Write a pattern set in the text bitmap format; :func:`load_bitmaps` reads it back equal.

    Parameters
    ----------
    path : str or os.PathLike
    pattern_set : PatternSet
        A set without ``shape`` is written as one row per pattern, shape ``(1, n_units)``.

    Raises
    ------
    PatternFileError
        If a name cannot be written on a header line (surrounding blanks, control characters), or
        the file cannot be written.
    """
    shape = pattern_set.shape or (1, pattern_set.n_units)
    rows, cols = shape
    if rows * cols == 0:
        raise PatternFileError(path, f"cannot save patterns of shape {shape}: a glyph needs at least one unit")
    for name in pattern_set.names:
        if name != name.strip() or not name.isprintable():
            raise PatternFileError(
                path, f"cannot save pattern name {name!r}: names must be printable without surrounding blanks"
            )
    out = [
        f"{COMMENT} {len(pattern_set)} glyphs of {rows} rows x {cols} columns; "
        f"'{ON}' = on (+1), '{OFF}' = off (-1)"
    ]
    for name, p in zip(pattern_set.names, pattern_set.patterns):
        out += ["", f"{HEADER} {name}", to_text(p, shape)]
    from .writer import write_text

    write_text(path, "\n".join(out) + "\n")


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------
def load_png(
    path: str | os.PathLike,
    shape: tuple[int, int] | None = None,
    threshold: float = 0.5,
    invert: bool = False,
    max_units: int | None = None,
) -> PatternSet:
    """Read an image (PNG, or any format Pillow reads) as one bipolar pattern.

    The image is flattened onto white (transparent pixels count as white), converted to grayscale
    (ITU-R 601 luma), optionally resized, and thresholded: a pixel whose gray level in [0, 1] is
    below ``threshold`` is *dark* and becomes +1 — ink on paper is "on" — unless ``invert``.

    Parameters
    ----------
    path : str or os.PathLike
    shape : (int, int), optional
        ``(rows, cols)`` to resize to with nearest-neighbour sampling (keeps hard pixel edges);
        default: the image size.
    threshold : float
        Gray level in [0, 1] separating dark from light.
    invert : bool
        Light pixels become +1 instead.
    max_units : int, optional
        Refuse an image giving more units (default :data:`MAX_UNITS`, the ``network.size`` limit);
        checked from the header before any pixel is decoded, as is :data:`MAX_IMAGE_PIXELS`.

    Returns
    -------
    PatternSet
        One pattern named after the file stem: ``patterns`` of shape ``(1, rows * cols)``,
        ``shape = (rows, cols)``. A set rather than a bare vector, so the picture shape and a name
        travel with the bits; use ``.patterns[0]`` for the ``(rows * cols,)`` vector.

    Raises
    ------
    PatternFileError
        If the file is missing, not a regular file, corrupt, truncated or not an image, or the
        image is too large (pixels or units).
    """
    from PIL import Image  # Pillow is imported only when an image is read (start-up stays light)

    path = Path(path)
    max_units = MAX_UNITS if max_units is None else int(max_units)
    if shape is not None:
        shape = (int(shape[0]), int(shape[1]))
        if shape[0] < 1 or shape[1] < 1:
            raise ValidationError("shape", f"must be two integers >= 1, got {shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValidationError("threshold", f"must be a number in [0, 1], got {threshold!r}")
    import io

    from .errors import InputError
    from .reader import MAX_BINARY_BYTES, read_input

    try:
        raw = read_input(path, max_bytes=min(MAX_BINARY_BYTES, 64 * 2**20))  # no FIFO, device or huge file
    except InputError as e:
        raise PatternFileError(path, f"cannot read the file: {e.problem}") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            # The header gives the size: a 101-byte PNG can declare 150 x 150 (N = 22500) or a
            # gigapixel; refuse before decoding a pixel.
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                raise PatternFileError(path, f"image of {w} x {h} pixels is larger than {MAX_IMAGE_PIXELS} pixels "
                                       f"(it would need ~{w * h * 5 / 2**20:.0f} MB to decode); refused")
            n = (shape[0] * shape[1]) if shape is not None else w * h
            if n > max_units:
                raise PatternFileError(path, f"image of {w} x {h} pixels gives {n} units, more than the "
                                       f"{max_units} a network may have (a Hopfield net of that size needs "
                                       f"~{n * n * 8 / 2**30:.1f} GB for W); shrink the image or set a shape")
            img.load()
            gray = _to_gray(img, Image)
    except PatternFileError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many types (OSError, SyntaxError, struct.error ...)
        raise PatternFileError(path, f"not a readable image: {e}") from None
    if shape is not None and gray.size != (shape[1], shape[0]):
        gray = gray.resize((shape[1], shape[0]), Image.NEAREST)
    level = np.asarray(gray, dtype=np.float64) / 255.0  # (rows, cols)
    on = level >= threshold if invert else level < threshold
    bits = np.where(on, 1, -1).astype(np.int8)
    return PatternSet((path.stem or path.name,), bits.reshape(1, -1), bits.shape, str(path))


def _to_gray(img, Image):
    """8-bit grayscale ('L') of any Pillow image, transparency flattened onto white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit / float grayscale: scale into 0..255 ourselves; Pillow's 'L' conversion clips.
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" else 65535.0
        return Image.fromarray(np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8), "L")
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("L")


# ----------------------------------------------------------------------------------------------
# Builtin sets
# ----------------------------------------------------------------------------------------------
def builtin_set(name: str) -> PatternSet:
    """A builtin pattern set: ``"letters"`` (A..Z), ``"digits"`` (0..9) or ``"alphanumeric"`` (both).

    Read from ``assets_dir()/patterns``; every glyph is :data:`GLYPH_SHAPE` = 12 rows x 10 columns.

    Returns
    -------
    PatternSet
        ``patterns`` of shape ``(26, 120)``, ``(10, 120)`` or ``(36, 120)``.
    """
    from .paths import assets_dir

    if name not in BUILTIN_SETS:
        hint = difflib.get_close_matches(str(name), BUILTIN_SETS, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValidationError(
            "patterns",
            f"must be one of {', '.join(repr(k) for k in BUILTIN_SETS)}, got {name!r}{extra}",
        )
    folder = assets_dir() / "patterns"
    parts = [load_bitmaps(folder / f, GLYPH_SHAPE) for f in BUILTIN_SETS[name]]
    if len(parts) == 1:
        return parts[0]
    return PatternSet(
        sum((p.names for p in parts), ()),
        np.concatenate([p.patterns for p in parts]),
        GLYPH_SHAPE,
        str(folder),
    )


# ----------------------------------------------------------------------------------------------
# Random patterns and corruption
# ----------------------------------------------------------------------------------------------
def random_patterns(n_patterns: int, n_units: int, rng: np.random.Generator, bias: float = 0.0) -> np.ndarray:
    """Independent random bipolar patterns (the standard Hopfield 1982 / Amit et al. 1985 ensemble).

    Parameters
    ----------
    n_patterns, n_units : int
    rng : numpy.random.Generator
    bias : float
        Mean activity in [-1, 1]: each unit is +1 with probability ``(1 + bias) / 2``, so the
        expected value of every entry is ``bias`` (0 = unbiased).

    Returns
    -------
    ndarray, shape (n_patterns, n_units), int8
    """
    if int(n_patterns) != n_patterns or n_patterns < 0:
        raise ValidationError("n_patterns", f"must be an integer >= 0, got {n_patterns!r}")
    if int(n_units) != n_units or n_units < 0:
        raise ValidationError("n_units", f"must be an integer >= 0, got {n_units!r}")
    if not -1.0 <= bias <= 1.0:
        raise ValidationError("bias", f"must be a number in [-1, 1], got {bias!r}")
    if n_patterns * n_units > MAX_RANDOM_BITS:  # checked from the declared sizes, before drawing
        raise ValidationError("patterns.count", f"{n_patterns} random patterns of {n_units} units are "
                              f"{n_patterns * n_units:.3g} bits, more than {MAX_RANDOM_BITS:.0e} (they would need "
                              f"~{n_patterns * n_units / 2**30:.3g} GB, 8x that as floats)")
    on = rng.random((int(n_patterns), int(n_units))) < (1.0 + bias) / 2.0
    return np.where(on, 1, -1).astype(np.int8)


def flip_fraction(patterns: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Copy of bipolar pattern(s) with exactly ``round(fraction * N)`` units flipped per row.

    The flipped units of each row are a uniformly random subset, drawn independently per row (the
    ``k`` smallest of ``N`` i.i.d. uniform keys). Exactly k — not about k — so a recall experiment
    starts at the stated overlap ``1 - 2k/N``.

    Parameters
    ----------
    patterns : ndarray, shape (n_units,) or (batch, n_units)
        Values in {-1, +1}.
    fraction : float
        In [0, 1]. ``k = round(fraction * N)`` uses Python rounding (halves go to the even number).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, same shape and dtype as ``patterns``
    """
    x = np.asarray(patterns)
    if x.ndim not in (1, 2):
        raise ValueError(f"patterns must have shape (n_units,) or (batch, n_units), got {x.shape}")
    if not 0.0 <= fraction <= 1.0:
        raise ValidationError("fraction", f"must be a number in [0, 1], got {fraction!r}")
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    n = rows.shape[1]
    k = round(fraction * n)
    keys = rng.random(rows.shape)
    chosen = np.argsort(keys, axis=1, kind="stable")[:, :k]
    mask = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    out = np.where(mask, -rows, rows).astype(x.dtype, copy=False)
    return out.reshape(x.shape)


def mask_region(
    patterns: np.ndarray,
    shape: tuple[int, int],
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
    value: int = -1,
) -> np.ndarray:
    """Copy of the pattern(s) with a rectangle of the picture set to ``value`` (occlusion cue).

    Parameters
    ----------
    patterns : ndarray, shape (n_units,) or (batch, n_units)
    shape : (int, int)
        ``(n_rows, n_cols)`` of the picture, ``n_rows * n_cols == n_units``.
    rows, cols : (int, int), optional
        Half-open ranges ``[r0, r1)`` and ``[c0, c1)`` with ``0 <= start <= stop <= size``;
        None means the whole range. E.g. ``rows=(6, 12)`` hides the lower half of a 12-row glyph.
    value : int
        Value written into the rectangle (-1 = off; use 0 for "unknown" in float states).

    Returns
    -------
    ndarray, same shape and dtype as ``patterns``
    """
    x = np.asarray(patterns)
    n_rows, n_cols = int(shape[0]), int(shape[1])
    if x.ndim not in (1, 2) or x.shape[-1] != n_rows * n_cols:
        raise ValueError(f"patterns of shape {x.shape} do not fit a {n_rows} x {n_cols} picture")
    r0, r1 = _range(rows, n_rows, "rows")
    c0, c1 = _range(cols, n_cols, "cols")
    out = x.reshape(x.shape[:-1] + (n_rows, n_cols)).copy()
    out[..., r0:r1, c0:c1] = value
    return out.reshape(x.shape)


def _range(r, size: int, what: str) -> tuple[int, int]:
    if r is None:
        return 0, size
    a, b = int(r[0]), int(r[1])
    if not 0 <= a <= b <= size:
        raise ValidationError(what, f"must be a range (start, stop) with 0 <= start <= stop <= {size}, got {tuple(r)}")
    return a, b


# ----------------------------------------------------------------------------------------------
# Small converters
# ----------------------------------------------------------------------------------------------
def to_text(pattern: np.ndarray, shape: tuple[int, int], on: str = ON, off: str = OFF) -> str:
    """The picture of one pattern as text lines (for terminal summaries).

    Parameters
    ----------
    pattern : ndarray, shape (rows * cols,)
        Positive entries print as ``on`` (so both {-1, +1} and {0, 1} patterns work).
    shape : (int, int)
        ``(rows, cols)``.

    Returns
    -------
    str
        ``rows`` lines of ``cols`` characters joined by newlines (no trailing newline).
    """
    p = np.asarray(pattern).reshape(int(shape[0]), int(shape[1]))
    return "\n".join("".join(on if v > 0 else off for v in row) for row in p)


def bipolar(x: np.ndarray) -> np.ndarray:
    """{0, 1} (or bool) -> {-1, +1}, as ``int8`` of the same shape."""
    a = np.asarray(x)
    if a.size and not np.isin(a, (0, 1)).all():
        raise ValueError("bipolar() expects values in {0, 1}")
    return (2 * a.astype(np.int8) - 1).astype(np.int8)


def binary(x: np.ndarray) -> np.ndarray:
    """{-1, +1} -> {0, 1}, as ``int8`` of the same shape."""
    a = np.asarray(x)
    if a.size and not np.isin(a, (-1, 1)).all():
        raise ValueError("binary() expects values in {-1, +1}")
    return (a > 0).astype(np.int8)
