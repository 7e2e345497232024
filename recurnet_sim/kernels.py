"""Which inner loops run: the numpy reference or compiled (numba) kernels. The one place that decides.

Every family's ``[dynamics]`` table has the key ``dynamics.kernel = "compiled" | "numpy"``
(:data:`recurnet_sim.spec.KERNEL_FIELD`, default ``"compiled"``); the environment variable
``RECURNET_KERNEL=numpy|compiled`` overrides it for a whole process (tests run both). Both kernels
draw the same random numbers from each trial's ``numpy.random.Generator``. In the unit-based
families (Hopfield, BAM, Boltzmann) they give bit-identical states, so the choice changes speed
only. The simple recurrent networks' compiled training epoch sums in index order where numpy's
BLAS blocks, so it agrees to ~1e-14 relative per epoch, not bit for bit (many epochs of chaotic
training amplify that); its fixed order gives the same bits on every machine.

Compiled kernels are plain Python functions decorated with :func:`njit`: nothing imports numba
until a compiled kernel is first called (``import recurnet_sim`` stays light). ``cache=True`` is the
default, so a process pays the compile time once per machine, not per run. numba keeps that cache
next to the source (``__pycache__``); when the package directory is not writable (a non-editable
install in a system prefix), ``NUMBA_CACHE_DIR`` is pointed at ``$XDG_CACHE_HOME/recurnet_sim/numba``
(``~/.cache/...``) before numba is imported, unless the user set it already. Without numba,
"compiled" falls back to the numpy kernels with a one-line note on stderr.

Use in a family::

    from ...kernels import kernel_for, njit, prange   # prange by name: it is swapped in place

    @njit(parallel=True)
    def _sweep(state, field, ...):
        for b in prange(state.shape[0]):   # numba.prange once compiled
            ...

    if kernel_for(cfg) == "compiled":      # or model.kernel, set at build
        _sweep(...)

Kernels of one module may call each other: when the first of them is compiled, every
:func:`njit` function and the :data:`prange` placeholder in that module's globals are swapped for
their numba objects, which is what numba needs to see when it compiles a call between them.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

KERNELS = ("numpy", "compiled")
DEFAULT = "compiled"
ENV_VAR = "RECURNET_KERNEL"

#: "compiled" starts on the numpy kernels and switches to numba once this process has spent this
#: many seconds in them (:func:`numpy_time`): numba's first use in a process costs 1-2 s even with a
#: warm cache (its imports and type registries), more than a short run takes in numpy. Both give
#: the same bits, so switching mid-run changes nothing but speed. ``RECURNET_KERNEL=compiled``
#: compiles from the first call (tests).
COMPILE_AFTER_S = 1.0

_numpy_seconds = 0.0
_warm = False  # a compiled kernel already ran in this process: numba's start-up is paid

_numba: Any = None  # the numba module once imported; False when it is missing
_noted = False


def _choice_of(cfg_or_name) -> str | None:
    """The kernel named by a scenario config, its [dynamics] table, or a string (None: unnamed)."""
    if cfg_or_name is None:
        return None
    if isinstance(cfg_or_name, str):
        return cfg_or_name
    if isinstance(cfg_or_name, Mapping):
        dyn = cfg_or_name.get("dynamics", cfg_or_name)
        if isinstance(dyn, Mapping):
            k = dyn.get("kernel")
            return k if isinstance(k, str) else None
    return None


def requested(cfg_or_name=None) -> str:
    """The kernel asked for: ``RECURNET_KERNEL`` if set, else the config's ``dynamics.kernel``, else
    ``"compiled"``; without checking that numba is there (see :func:`kernel_for`).

    Raises ValueError naming the variable (or the key) for a value other than numpy / compiled."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        if env not in KERNELS:
            raise ValueError(f"{ENV_VAR} must be one of 'numpy', 'compiled', got {env!r}")
        return env
    name = _choice_of(cfg_or_name)
    if name is None:
        return DEFAULT
    if name not in KERNELS:
        raise ValueError(f"dynamics.kernel: must be one of 'numpy', 'compiled', got {name!r}")
    return name


def kernel_for(cfg_or_name=None) -> str:
    """``"numpy"`` or ``"compiled"``: what a model built from ``cfg_or_name`` should run.

    Parameters
    ----------
    cfg_or_name : validated scenario config (dict with a ``dynamics`` table), the ``dynamics``
        table itself, ``"numpy"`` / ``"compiled"``, or None (the default, ``"compiled"``).
        ``RECURNET_KERNEL`` in the environment overrides any of them.

    "compiled" becomes "numpy" (with a one-line note, once per process) when numba is missing.
    """
    name = requested(cfg_or_name)
    if name == "compiled" and not numba_installed():
        return "numpy"
    return name


def worth_compiling() -> bool:
    """Whether a family running under "compiled" should call its numba kernels now: once numba is
    warm in this process, once the numpy kernels have taken :data:`COMPILE_AFTER_S`, or always
    with ``RECURNET_KERNEL=compiled``."""
    return _warm or _numpy_seconds >= COMPILE_AFTER_S or os.environ.get(ENV_VAR, "").strip() == "compiled"


def numpy_time(seconds: float) -> None:
    """Count time a family spent in numpy kernels that "compiled" could have run (see
    :func:`worth_compiling`)."""
    global _numpy_seconds
    _numpy_seconds += seconds


def use_compiled(model) -> bool:
    """Whether ``model`` should call its numba kernels now: its ``kernel`` is "compiled",
    :func:`worth_compiling` says the run has paid for numba's start-up, and numba imports. When
    numba fails to import, ``model.kernel`` becomes "numpy" for good (noted once on stderr by
    :func:`load_numba`). The one switch the unit-based families share; time their numpy path
    with :func:`numpy_clock`."""
    if model.kernel != "compiled" or not worth_compiling():
        return False  # numpy until a run is long enough to pay numba's start-up (same bits)
    if not numba_available():
        model.kernel = "numpy"
        return False
    return True


class numpy_clock:
    """``with numpy_clock(counts):`` adds the block's time to :func:`numpy_time` when ``counts``
    (a numpy kernel ran where "compiled" could have: the model's kernel is "compiled" and
    :func:`use_compiled` said not yet)."""

    __slots__ = ("counts", "t0")

    def __init__(self, counts: bool):
        self.counts = counts

    def __enter__(self):
        if self.counts:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.counts:
            numpy_time(time.perf_counter() - self.t0)
        return False


def numba_available() -> bool:
    """Whether numba can be imported (imports it, after setting its cache directory)."""
    return load_numba() is not None


def numba_installed() -> bool:
    """Whether numba is there, without importing it before it is needed: importing it costs
    0.15-0.4 s, which a short run that stays on the numpy kernel (:func:`worth_compiling`) never
    needs. A model checks :func:`numba_available` at its first compiled call (a package that is
    found but fails to import then falls back to numpy with the one-line note)."""
    if _numba is None and sys.modules.get("numba", False) is not None:
        try:
            return importlib.util.find_spec("numba") is not None or numba_available()
        except (ImportError, ValueError):
            pass
    return numba_available()


def load_numba():
    """The numba module, imported once with a usable cache directory; None when it is missing."""
    global _numba, _noted
    if _numba is None:
        _set_cache_dir()
        try:
            import numba
            _numba = numba
        except Exception as exc:  # ImportError, or a broken llvmlite: run the numpy kernels
            _numba = False
            if not _noted:
                _noted = True
                print(f"recurnet_sim: numba is not available ({type(exc).__name__}: {exc}); "
                      "running the numpy kernels (pip install numba for the compiled ones)", file=sys.stderr)
    return _numba or None


def cache_dir() -> Path | None:
    """Where numba caches compiled kernels: None = numba's default (``__pycache__`` beside the
    package's sources), else the user cache directory used when the package is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    pkg = Path(__file__).resolve().parent
    if _writable(pkg):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recurnet_sim" / "numba"


def _writable(pkg: Path) -> bool:
    cache = pkg / "__pycache__"
    target = cache if cache.is_dir() else pkg
    return os.access(target, os.W_OK | os.X_OK)


def _set_cache_dir() -> None:
    if "numba" in sys.modules or os.environ.get("NUMBA_CACHE_DIR"):
        return  # numba reads the variable once, at import; the user's own setting wins
    d = cache_dir()
    if d is not None:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            return  # numba then tries its own user-wide cache directory
        os.environ["NUMBA_CACHE_DIR"] = str(d)


class _Prange:
    """``range`` in plain Python; replaced by ``numba.prange`` in a module whose kernels compile."""

    def __call__(self, *args):
        return range(*args)

    def __repr__(self) -> str:
        return "recurnet_sim.kernels.prange"


#: use as ``for b in prange(n)`` inside an :func:`njit` kernel (import it into the kernel's module)
prange = _Prange()


class LazyKernel:
    """A function to be compiled by ``numba.njit(**options)`` on its first call."""

    def __init__(self, fn: Callable, options: dict):
        self.py_func = fn
        self.options = options
        self._compiled = None
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def dispatcher(self):
        """The numba dispatcher (compiling the module's kernels' wrappers on first use)."""
        if self._compiled is None:
            nb = load_numba()
            if nb is None:
                raise RuntimeError(f"{self.__name__}: numba is not available; use the numpy kernel "
                                   f"(kernel_for() returns 'numpy' then)")
            _materialize(self.py_func.__globals__, nb)
            global _warm
            _warm = True
        return self._compiled

    def _build(self, nb):
        if self._compiled is None:
            self._compiled = nb.njit(**self.options)(self.py_func)
        return self._compiled

    def __call__(self, *args, **kwargs):
        d = self._compiled if self._compiled is not None else self.dispatcher()
        return d(*args, **kwargs)


def dispatcher(kernel):
    """The numba dispatcher behind ``kernel``: a :class:`LazyKernel` (compiled now if need be) or
    what a module's globals hold once its kernels were made (the dispatcher itself). Calling it
    directly saves the LazyKernel frame, which repacks every argument (a call of many arguments
    in a loop of short calls)."""
    return kernel.dispatcher() if isinstance(kernel, LazyKernel) else kernel


def _materialize(glb: dict, nb) -> None:
    # Swap every lazy kernel and the prange placeholder of the module for numba's objects, so a
    # kernel calling another one (or prange) compiles: numba resolves globals when it compiles.
    for name, value in list(glb.items()):
        if isinstance(value, LazyKernel):
            glb[name] = value._build(nb)
        elif value is prange:
            glb[name] = nb.prange


def njit(fn: Callable | None = None, **options):
    """``numba.njit`` applied lazily, with ``cache=True`` unless told otherwise.

    ``@njit`` or ``@njit(parallel=True, ...)``. Returns a :class:`LazyKernel`; numba is imported
    and the function compiled on its first call."""
    options.setdefault("cache", True)

    def wrap(f: Callable) -> LazyKernel:
        return LazyKernel(f, dict(options))

    return wrap(fn) if fn is not None else wrap


def njit_pair(fn: Callable, **options) -> tuple[LazyKernel, LazyKernel]:
    """(parallel, serial) kernels of one function: ``prange`` spreads the batch over threads in
    the first and is a plain loop in the second, for batches too small to pay for waking the
    threads (on a busy machine that costs milliseconds). The serial twin is a copy named
    ``<name>_serial`` so numba caches the two apart. Store both in the module's globals."""
    import types

    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                              fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    options.setdefault("cache", True)
    return LazyKernel(fn, {**options, "parallel": True}), LazyKernel(twin, {**options, "parallel": False})


def bitgen_call(result: str):
    """A numba intrinsic ``call(fn_address, state_address)`` that calls one of a numpy bit
    generator's C functions through its ``ctypes`` pointers: ``result = "float64"`` for
    ``next_double`` (one float64 of ``Generator.random``), ``"uint32"`` for ``next_uint32``. A
    compiled loop then draws each trial's own stream, number for number, without a Python call per
    trial. Imports numba (call it when a compiled kernel is about to run)."""
    load_numba()
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    ir_result, nb_result = {"float64": (ir.DoubleType(), types.float64),
                            "uint32": (ir.IntType(32), types.uint32)}[result]

    def call(typingctx, fn, state):
        def codegen(context, builder, signature, args):
            vp = ir.IntType(8).as_pointer()
            f = builder.inttoptr(args[0], ir.FunctionType(ir_result, [vp]).as_pointer())
            return builder.call(f, [builder.inttoptr(args[1], vp)])
        return nb_result(types.uint64, types.uint64), codegen

    call.__name__ = call.__qualname__ = f"bitgen_next_{result}"
    return intrinsic(call)
