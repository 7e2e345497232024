"""Live pygame viewer (optional; ``import recurnet_sim`` never imports pygame).

``run_viewer(sim, ...)`` opens a window (or draws headless through SDL's dummy driver) and runs the
loop; :class:`Viewer` is the testable object behind it: ``handle_event``, ``update``, ``draw``,
``unit_at`` and one method per command. The viewer changes the network only through the engine's
perturbation API (``sim.apply``), ``sim.step`` and ``sim.reset``. See ``docs/viewer.md``.
"""
from __future__ import annotations

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on stdout (breaks --json)

from .app import run_viewer
from .core import Viewer, init_pygame, window_available

__all__ = ["run_viewer", "Viewer", "init_pygame", "window_available"]
