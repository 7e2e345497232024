"""The window loop: events -> k engine steps -> draw -> flip -> tick.

The simulation rate (``Viewer.speed`` ticks per frame, changed with +/-) is independent of the
frame rate (capped by ``[view] fps``), as in pymunk's pygame examples.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pygame

from ..writer import write_file
from .core import Viewer

#: frames kept for a GIF at most (a GIF of a long run stays small enough for slides)
GIF_MAX_FRAMES = 400


def run_viewer(sim, record_dir=None, screenshot=None, gif=None, max_frames=None, headless=False, size=None,
               hold_frames: int | None = None, play: bool | None = None, status: bool = True,
               gif_scale: float = 1.0) -> Viewer:
    """Show ``sim`` in a window until the user quits (or ``max_frames`` frames).

    Parameters
    ----------
    sim : Simulation
    record_dir : path, optional
        Save every frame as ``DIR/frame_00001.png`` ...
    screenshot : path, optional
        Save the final frame as PNG.
    gif : path, optional
        Write an animated GIF of the run (Pillow).
    max_frames : int, optional
        Quit after this many frames.
    headless : bool
        No window (SDL's dummy driver). A headless run without ``max_frames`` ends when every trial
        has stopped, after ``hold_frames`` more frames (default: half a second of frames).
    size : (width, height), optional
    play : bool, optional
        Start running. Default: headless runs play (nobody can press Space), a window opens as
        the scenario says (lesson mode: paused on the cue).
    status : bool
        Draw the status line (False: frames and GIFs without it).
    gif_scale : float
        GIF frames at this fraction of the window size (1: full size).

    The first frame is drawn before any tick: ``--record`` frame 1 is tick 0, the cue.

    Returns
    -------
    Viewer
        The (closed) viewer, for inspection.
    """
    viewer = Viewer(sim, size=size, headless=headless, play=headless if play is None else play, status=status)
    clock = pygame.time.Clock()
    fps = viewer.fps_cap
    record = Path(record_dir) if record_dir else None
    if record is not None:
        record.mkdir(parents=True, exist_ok=True)
    gif_frames = []
    gif_step = 1
    hold = max(1, fps // 2) if hold_frames is None else hold_frames
    left_after_done = None
    try:
        while viewer.alive:
            for event in pygame.event.get():
                viewer.handle_event(event)
            if not viewer.alive:
                break
            if viewer.frame > 0:  # frame 1 shows tick 0 (the cue) before anything runs
                viewer.update()
            surf = viewer.draw()
            if not headless:
                pygame.display.flip()
            if record is not None:
                frame = record / f"frame_{viewer.frame:05d}.png"
                write_file(frame, lambda fh: pygame.image.save(surf, fh, frame.name))
            if gif and viewer.frame % gif_step == 0:
                gif_frames.append(_to_pil(surf, gif_scale))
                if len(gif_frames) >= GIF_MAX_FRAMES:
                    gif_frames = gif_frames[::2]  # keep the whole run at half the frame rate
                    gif_step *= 2
            if max_frames is not None and viewer.frame >= max_frames:
                break
            if headless and max_frames is None:
                if sim.done:
                    left_after_done = hold if left_after_done is None else left_after_done - 1
                    if left_after_done <= 0:
                        break
            clock.tick(0 if headless else fps)
        if screenshot:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            last = viewer.draw() if viewer.frame == 0 else viewer.screen
            write_file(screenshot, lambda fh: pygame.image.save(last, fh, Path(screenshot).name))
        if gif and gif_frames:
            _write_gif(gif, gif_frames, 1000.0 * gif_step / max(1, fps))
    finally:
        viewer.close()
    return viewer


def _to_pil(surf: pygame.Surface, scale: float = 1.0):
    from PIL import Image

    w, h = surf.get_size()
    img = Image.frombytes("RGB", (w, h), pygame.image.tobytes(surf, "RGB"))
    if scale != 1.0:
        img = img.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.LANCZOS)
    # full window size by default (text stays legible on a slide); adaptive palette keeps the colours
    return img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)


def _write_gif(path, frames, ms_per_frame: float) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [max(20, int(round(ms_per_frame)))] * len(frames)
    durations[-1] = max(durations[-1], 1500)  # linger on the final state
    write_file(path, lambda fh: frames[0].save(fh, format="GIF", save_all=True, append_images=frames[1:],
                                               duration=durations, loop=0, optimize=True))
    print(f"recurnet: wrote {path} ({len(frames)} frames)", file=sys.stderr)
