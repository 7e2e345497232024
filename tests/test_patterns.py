"""Tests of recurnet_sim.patterns and recurnet_sim.paths: builtin glyphs, file formats, corruption."""
from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recurnet_sim.errors import RecurnetError
from recurnet_sim.paths import assets_dir, scenarios_dir
from recurnet_sim.patterns import (
    GLYPH_SHAPE,
    PatternFileError,
    PatternSet,
    binary,
    bipolar,
    builtin_set,
    flip_fraction,
    load_bitmaps,
    load_png,
    mask_region,
    random_patterns,
    save_bitmaps,
    to_text,
)

SMILEY = """
.....######.....
...##......##...
..#..........#..
.#............#.
.#...##..##...#.
#....##..##....#
#....##..##....#
#..............#
#..............#
#..#........#..#
#...#......#...#
.#...######...#.
.#............#.
..#..........#..
...##......##...
.....######.....
""".strip()


def _bits(text: str) -> np.ndarray:
    rows = text.strip().split("\n")
    return np.array([[1 if c == "#" else -1 for c in r] for r in rows], dtype=np.int8)


# ---------------------------------------------------------------------------------------------
# Builtin glyphs
# ---------------------------------------------------------------------------------------------
def test_builtin_sets_have_the_fixed_shape_and_expected_names():
    letters, digits, both = builtin_set("letters"), builtin_set("digits"), builtin_set("alphanumeric")
    assert letters.names == tuple(string.ascii_uppercase)
    assert digits.names == tuple(string.digits)
    assert both.names == letters.names + digits.names
    for s in (letters, digits, both):
        assert s.shape == GLYPH_SHAPE == (12, 10)
        assert s.patterns.shape == (len(s), 120)
        assert s.patterns.dtype == np.int8
        assert set(np.unique(s.patterns)) <= {-1, 1}
        assert len(set(s.names)) == len(s)
    assert np.array_equal(both.patterns, np.concatenate([letters.patterns, digits.patterns]))


def test_builtin_glyphs_are_pairwise_distinct_and_keep_a_blank_border():
    s = builtin_set("alphanumeric")
    x = s.patterns.astype(np.int64)
    hamming = (x.shape[1] - x @ x.T) // 2
    np.fill_diagonal(hamming, x.shape[1])
    # At least 8 of 120 pixels differ between any two glyphs (B/8, S/5, O/0 were redrawn for this).
    assert hamming.min() >= 8, [(s.names[i], s.names[j]) for i, j in zip(*np.nonzero(hamming < 8))]
    # Letters: overlap m = xi.xj / N stays below 0.9 (measured max 0.867, D vs O).
    m = x[:26] @ x[:26].T / x.shape[1]
    np.fill_diagonal(m, 0)
    assert np.abs(m).max() < 0.9
    # Every glyph has ink, and no ink on the outer frame except Q's tail (bottom-right corner).
    pics = s.patterns.reshape(-1, *GLYPH_SHAPE)
    assert (pics == 1).sum(axis=(1, 2)).min() > 15
    for name, pic in zip(s.names, pics):
        frame = np.concatenate([pic[0], pic[:, 0], pic[:-1, -1], pic[-1, :-1]])
        if name != "Q":
            assert (frame == -1).all(), name


def test_builtin_set_unknown_name():
    with pytest.raises(RecurnetError, match="did you mean 'letters'"):
        builtin_set("leters")


def test_builtin_set_is_read_only():
    s = builtin_set("digits")
    with pytest.raises(ValueError):
        s.patterns[0, 0] = 1


# ---------------------------------------------------------------------------------------------
# PatternSet
# ---------------------------------------------------------------------------------------------
def test_select_keeps_order_and_index():
    s = builtin_set("letters")
    sub = s.select(["Z", "A", "M"])
    assert sub.names == ("Z", "A", "M")
    assert np.array_equal(sub.patterns, s.patterns[[25, 0, 12]])
    assert sub.shape == s.shape
    assert s.index("C") == 2 and len(sub) == 3
    assert s.select("B").names == ("B",)


def test_select_unknown_name_lists_the_available_ones():
    s = builtin_set("letters")
    with pytest.raises(PatternFileError) as ei:
        s.select(["A", "a7"])
    msg = str(ei.value)
    assert "letters.txt" in msg and "'a7'" in msg and "available: A, B, C" in msg
    with pytest.raises(PatternFileError, match="did you mean 'Q'"):
        s.index("q")


def test_pattern_set_validates():
    with pytest.raises(ValueError, match="duplicate"):
        PatternSet(("a", "a"), np.ones((2, 3)))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        PatternSet(("a",), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="shape"):
        PatternSet(("a",), np.ones((1, 6)), (4, 2))
    assert PatternSet(("a",), np.ones((1, 6)), (2, 3)) == PatternSet(["a"], np.ones((1, 6), int), [2, 3])


# ---------------------------------------------------------------------------------------------
# Text format: round trip and malformed files
# ---------------------------------------------------------------------------------------------
_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=6
).filter(lambda n: n == n.strip() and n.isprintable())


@st.composite
def pattern_sets(draw):
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    names = draw(st.lists(_name, min_size=1, max_size=5, unique=True))
    bits = draw(st.lists(st.booleans(), min_size=len(names) * rows * cols, max_size=len(names) * rows * cols))
    pats = np.where(np.array(bits).reshape(len(names), rows * cols), 1, -1)
    return PatternSet(tuple(names), pats, (rows, cols))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ps=pattern_sets())
def test_save_load_round_trip(tmp_path, ps):
    path = tmp_path / "set.txt"
    save_bitmaps(path, ps)
    back = load_bitmaps(path)
    assert back == ps


def test_builtin_files_round_trip(tmp_path):
    s = builtin_set("alphanumeric")
    save_bitmaps(tmp_path / "all.txt", s)
    assert load_bitmaps(tmp_path / "all.txt", GLYPH_SHAPE) == s


def test_format_details(tmp_path):
    path = tmp_path / "ok.txt"
    # BOM, CRLF, comments between rows, blanks around rows and names: all accepted.
    path.write_bytes("\ufeff; hi\r\n=  my glyph \r\n #. \r\n; mid\r\n.#\r\n\r\n\r\n= b\r\n##\r\n..\r\n".encode())
    s = load_bitmaps(path)
    assert s.names == ("my glyph", "b") and s.shape == (2, 2)
    assert s.patterns.tolist() == [[1, -1, -1, 1], [1, 1, -1, -1]]


GLYPH = "= A\n#.\n.#\n"
MALFORMED = {
    "empty": (b"", None, "no glyphs"),
    "only comments": (b"; nothing\n\n; here\n", None, "no glyphs"),
    "missing header": (b"#.\n.#\n", 1, "expected a '= NAME' header"),
    "row after blank line": (b"= A\n#.\n\n.#\n", 4, "header"),
    "ragged row": (b"= A\n#.\n.#.\n", 3, "row has 3 columns, expected 2"),
    "wider glyph": ((GLYPH + "= B\n#..\n.#.\n").encode(), 5, "row has 3 columns, expected 2"),
    "taller glyph": ((GLYPH + "= B\n#.\n.#\n##\n").encode(), 4, "glyph 'B' has 3 rows, expected 2"),
    "shorter glyph": ((GLYPH + "= B\n#.\n").encode(), 4, "glyph 'B' has 1 rows, expected 2"),
    "unknown character": (b"= A\n#.\n.x\n", 3, "unexpected character 'x' in column 2"),
    "digits as bits": (b"= A\n10\n01\n", 2, "unexpected character '1'"),
    "duplicate name": ((GLYPH + "\n" + GLYPH).encode(), 5, "duplicate glyph name 'A' (first defined on line 1)"),
    "empty name": (b"=\n#.\n", 1, "empty glyph name"),
    "header without rows": (b"= A\n= B\n#.\n", 1, "glyph 'A' has no rows"),
    "control char in name": (b"= A\x07\n#.\n", 1, "control characters"),
    "binary garbage": (bytes(range(256)) * 4, 1, "binary data"),
    "non-UTF-8": ("= \u00c4\n#.\n".encode("latin-1"), 1, "not UTF-8"),
    "non-UTF-8 later": (b"= A\n#.\n; caf\xe9\n", 3, "not UTF-8"),
    "png bytes": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, 3, "binary data"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_raise_pattern_file_error(tmp_path, case):
    data, line, text = MALFORMED[case]
    path = tmp_path / "broken_glyphs.txt"
    path.write_bytes(data)
    with pytest.raises(PatternFileError) as ei:
        load_bitmaps(path)
    msg = str(ei.value)
    assert msg.startswith("broken_glyphs.txt: "), msg
    assert text in msg
    assert ei.value.line == line
    if line is not None:
        assert f": line {line}: " in msg
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, RecurnetError)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(PatternFileError, match="nope.txt: cannot read"):
        load_bitmaps(tmp_path / "nope.txt")
    with pytest.raises(PatternFileError, match="cannot read"):
        load_bitmaps(tmp_path)


def test_required_shape(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text(GLYPH)
    with pytest.raises(PatternFileError, match="small.txt: line 2: row has 2 columns, expected 10"):
        load_bitmaps(path, GLYPH_SHAPE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), st.text(alphabet="=#.; \nAB\r\t", max_size=120).map(str.encode)))
def test_fuzz_only_pattern_file_error(tmp_path, data):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    try:
        s = load_bitmaps(path)
    except PatternFileError as e:
        assert "fuzz.txt" in str(e)
    else:
        assert s.patterns.shape == (len(s), s.shape[0] * s.shape[1])


def test_save_rejects_unwritable_names(tmp_path):
    ps = PatternSet((" A",), np.ones((1, 4)), (2, 2))
    with pytest.raises(PatternFileError, match="out.txt: cannot save pattern name"):
        save_bitmaps(tmp_path / "out.txt", ps)


# ---------------------------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------------------------
def test_load_shipped_smiley():
    s = load_png(assets_dir() / "patterns" / "smiley.png")
    assert s.names == ("smiley",) and s.shape == (16, 16)
    assert np.array_equal(s.patterns[0], _bits(SMILEY).ravel())
    # Transparent background and yellow face are light: inverted, they are the on pixels.
    inv = load_png(assets_dir() / "patterns" / "smiley.png", invert=True)
    assert np.array_equal(inv.patterns[0], -s.patterns[0])


def test_load_png_written_in_tmp(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    bits = np.where(rng.random((7, 5)) < 0.5, 1, -1).astype(np.int8)
    gray = np.where(bits == 1, 30, 220).astype(np.uint8)  # dark = on
    Image.fromarray(gray, "L").save(tmp_path / "pic.png")
    s = load_png(tmp_path / "pic.png")
    assert s.shape == (7, 5) and np.array_equal(s.patterns[0], bits.ravel())
    # A threshold below both gray levels makes everything light.
    assert (load_png(tmp_path / "pic.png", threshold=0.1).patterns == -1).all()

    # Nearest-neighbour resize of a 3x-upscaled picture recovers the original bits.
    big = np.kron(gray, np.ones((3, 3), dtype=np.uint8))
    Image.fromarray(big, "L").convert("RGB").save(tmp_path / "big.png")
    r = load_png(tmp_path / "big.png", shape=(7, 5))
    assert r.shape == (7, 5) and np.array_equal(r.patterns[0], bits.ravel())

    # 16-bit grayscale is scaled, not clipped to white.
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert np.array_equal(load_png(tmp_path / "deep.png").patterns[0], bits.ravel())


def test_corrupt_png(tmp_path):
    good = (assets_dir() / "patterns" / "smiley.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(PatternFileError, match="cut.png: not a readable image"):
        load_png(tmp_path / "cut.png")
    (tmp_path / "text.png").write_text("= A\n#.\n")
    with pytest.raises(PatternFileError, match="text.png"):
        load_png(tmp_path / "text.png")
    with pytest.raises(PatternFileError, match="gone.png: cannot read"):
        load_png(tmp_path / "gone.png")


# ---------------------------------------------------------------------------------------------
# Random patterns and corruption
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [-0.8, -0.2, 0.0, 0.5, 1.0])
def test_random_patterns_bias(bias):
    p = random_patterns(200, 500, np.random.default_rng(11), bias=bias)
    assert p.shape == (200, 500) and p.dtype == np.int8
    assert set(np.unique(p)) <= {-1, 1}
    # The mean of n = 1e5 i.i.d. entries has standard deviation sqrt(1 - bias^2) / sqrt(n)
    # <= 0.0032; allow 5 standard deviations (fixed seed, so the test is deterministic anyway).
    sd = np.sqrt(1 - bias**2) / np.sqrt(p.size)
    assert abs(p.mean() - bias) <= 5 * sd + 1e-12


def test_random_patterns_reproducible_and_validated():
    a = random_patterns(3, 40, np.random.default_rng(5))
    b = random_patterns(3, 40, np.random.default_rng(5))
    assert np.array_equal(a, b)
    with pytest.raises(RecurnetError, match="bias"):
        random_patterns(3, 40, np.random.default_rng(5), bias=1.5)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_flip_fraction_flips_exact_count(fraction):
    rng = np.random.default_rng(0)
    x = random_patterns(50, 120, rng)
    y = flip_fraction(x, fraction, rng)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert ((x != y).sum(axis=1) == round(fraction * 120)).all()
    assert np.array_equal(y[x != y], -x[x != y])


def test_flip_fraction_reproducible_independent_and_pure():
    x = np.ones((6, 100), dtype=np.int8)
    x.flags.writeable = False  # must not be written to
    y1 = flip_fraction(x, 0.3, np.random.default_rng(42))
    y2 = flip_fraction(x, 0.3, np.random.default_rng(42))
    assert np.array_equal(y1, y2)
    assert len({row.tobytes() for row in y1}) == 6  # rows use independent choices
    assert not np.array_equal(y1, flip_fraction(x, 0.3, np.random.default_rng(43)))
    v = flip_fraction(x[0], 0.3, np.random.default_rng(42))
    assert v.shape == (100,) and (v == -1).sum() == 30
    assert np.array_equal(v, y1[0])  # a vector is the one-row batch


def test_flip_fraction_is_uniform_over_units():
    x = np.ones((4000, 20), dtype=np.int8)
    y = flip_fraction(x, 0.25, np.random.default_rng(7))
    counts = (y == -1).sum(axis=0)
    # Each unit is flipped in a row with probability 5/20: Binomial(4000, 0.25), sd ~ 27.4.
    assert np.abs(counts - 1000).max() < 5 * np.sqrt(4000 * 0.25 * 0.75)


def test_mask_region():
    x = np.ones((2, 12), dtype=np.int8)
    y = mask_region(x, (3, 4), rows=(1, 3), cols=(2, 4))
    pic = y[0].reshape(3, 4)
    assert pic.tolist() == [[1, 1, 1, 1], [1, 1, -1, -1], [1, 1, -1, -1]]
    assert (x == 1).all() and np.array_equal(y[0], y[1])
    assert (mask_region(x[0], (3, 4), value=0) == 0).all()
    assert np.array_equal(mask_region(x, (3, 4), rows=(2, 2)), x)  # empty range: no change
    with pytest.raises(RecurnetError, match="rows"):
        mask_region(x, (3, 4), rows=(0, 4))
    with pytest.raises(ValueError):
        mask_region(x, (4, 4))


def test_to_text_and_converters():
    s = builtin_set("letters")
    assert to_text(s.patterns[s.index("T")], s.shape).split("\n")[4] == "....##...."
    assert to_text(np.array([1, 0, 0, 1]), (2, 2), on="X", off="_") == "X_\n_X"
    b = np.array([[0, 1, 1], [1, 0, 0]])
    assert bipolar(b).tolist() == [[-1, 1, 1], [1, -1, -1]] and bipolar(b).dtype == np.int8
    assert np.array_equal(binary(bipolar(b)), b)
    with pytest.raises(ValueError):
        binary(b)
    with pytest.raises(ValueError):
        bipolar(np.array([-1, 1]))


# ---------------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------------
def test_paths_default_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("RECURNET_ASSETS", raising=False)
    monkeypatch.delenv("RECURNET_SCENARIOS", raising=False)
    assert (assets_dir() / "patterns" / "letters.txt").is_file()
    assert scenarios_dir().name == "scenarios"
    monkeypatch.setenv("RECURNET_ASSETS", str(tmp_path))
    assert assets_dir() == tmp_path
    monkeypatch.setenv("RECURNET_SCENARIOS", str(tmp_path / "missing"))
    with pytest.raises(RecurnetError, match="RECURNET_SCENARIOS=.*not a directory"):
        scenarios_dir()
    # builtin_set follows the override
    (tmp_path / "patterns").mkdir()
    with pytest.raises(PatternFileError, match="letters.txt: cannot read"):
        builtin_set("letters")


def test_data_folders_are_found_after_a_regular_install(tmp_path, monkeypatch):
    """A non-editable install puts assets/ and scenarios/ under <prefix>/share/recurnet_sim."""
    import sys

    from recurnet_sim import paths

    monkeypatch.delenv("RECURNET_ASSETS", raising=False)
    monkeypatch.setattr(paths, "_CHECKOUT_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    with pytest.raises(paths.RecurnetError, match="RECURNET_ASSETS"):
        paths.assets_dir()
    shared = tmp_path / "venv" / "share" / "recurnet_sim" / "assets"
    shared.mkdir(parents=True)
    assert paths.assets_dir() == shared
