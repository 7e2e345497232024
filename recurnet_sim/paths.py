"""Where the shipped data folders are.

``assets/`` (pattern bitmaps, images) and ``scenarios/`` (example scenario files) live next to the
``recurnet_sim`` package directory in a source checkout or an editable install; a regular
``pip install .`` copies them to ``<prefix>/share/recurnet_sim/``. An environment variable
overrides each location, so a test or a user can point elsewhere without touching code:

=====================  ====================================
``RECURNET_ASSETS``    folder used by :func:`assets_dir`
``RECURNET_SCENARIOS`` folder used by :func:`scenarios_dir`
=====================  ====================================
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import RecurnetError

#: The repository root in a source checkout: the parent of the ``recurnet_sim`` package directory.
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def _find_dir(env_var: str, folder: str) -> Path:
    value = os.environ.get(env_var)
    # An empty variable counts as unset, so `RECURNET_ASSETS= cmd` restores the default.
    if value:
        path = Path(value).expanduser()
        if not path.is_dir():
            raise RecurnetError(f"{env_var}={value!r} is not a directory")
        return path
    candidates = [_CHECKOUT_ROOT / folder, Path(sys.prefix) / "share" / "recurnet_sim" / folder]
    for path in candidates:
        if path.is_dir():
            return path
    raise RecurnetError(
        f"cannot find the {folder}/ folder: looked in {' and '.join(str(c) for c in candidates)}; "
        f"set {env_var} to its location"
    )


def assets_dir() -> Path:
    """The ``assets/`` folder (pattern files, images).

    Returns
    -------
    pathlib.Path
        ``$RECURNET_ASSETS`` if set and non-empty, else ``assets/`` next to the package directory.

    Raises
    ------
    RecurnetError
        If the folder does not exist.
    """
    return _find_dir("RECURNET_ASSETS", "assets")


def scenarios_dir() -> Path:
    """The ``scenarios/`` folder (example scenario files).

    Returns
    -------
    pathlib.Path
        ``$RECURNET_SCENARIOS`` if set and non-empty, else ``scenarios/`` next to the package directory.

    Raises
    ------
    RecurnetError
        If the folder does not exist.
    """
    return _find_dir("RECURNET_SCENARIOS", "scenarios")


def resolve_shipped(name: str, subdir: str = "") -> Path:
    """A path as given, or the shipped file ``scenarios/[subdir/]NAME.toml`` when ``name`` is a bare
    name that exists there (``recurnet run hopfield_letters``, ``recurnet batch hopfield_capacity``).

    Raises
    ------
    ScenarioError
        ``name`` is a bare name (no folder) that is neither a file nor a shipped name: the message
        says "no such file" and suggests the closest shipped names (``hopfield_letter`` -> did you
        mean 'hopfield_letters'?).
    """
    p = Path(name)
    try:
        exists = p.exists()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte: read_toml says so
        return p
    if exists or os.sep in name or (os.altsep and os.altsep in name):
        return p
    try:
        folder = scenarios_dir() / subdir
    except RecurnetError:
        return p
    stem = name[:-5] if name.endswith(".toml") else name
    cand = folder / f"{stem}.toml"
    try:
        if cand.is_file():
            return cand if p.suffix != ".toml" else p
    except OSError:
        return p
    import difflib

    from .errors import ScenarioError, short_path

    shipped = sorted(f.stem for f in folder.glob("*.toml"))
    hint = difflib.get_close_matches(stem, shipped, n=3, cutoff=0.6)
    what = "experiment" if subdir else "scenario"
    extra = f" (did you mean {', '.join(map(repr, hint))}?)" if hint else f"; `recurnet list` shows the shipped {what}s"
    raise ScenarioError(f"no such file or shipped {what}: {short_path(name)}{extra}", short_path(name))


def has_display() -> bool:
    """Whether a window could be shown: a display is named (X11/Wayland, or a desktop OS) and SDL
    is not told to draw off-screen. (Whether it answers is checked when the viewer opens.)"""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("win32", "darwin")
