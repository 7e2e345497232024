"""The family protocol: what a network family declares, and the registry that finds it.

A *family* is one package under :mod:`recurnet_sim.families` (or anywhere, registered with
:func:`register`). It exports one :class:`Family` object, ``FAMILY``, that says everything the rest of
the program needs. The engine, the scenario layer, the CLI, the viewer, the batch runner and the
analyses read only these declarations and the :class:`~recurnet_sim.model.Model` protocol; none of
them names a family (``tests/test_family_protocol.py`` enforces it). This is the shape of Nengo's
``Builder.register``: one declaration per kind, looked up once.

Lookup is lazy: ``import recurnet_sim`` imports no family package; :func:`family_for` imports the
one package that builds a scenario's ``network.type``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    import numpy as np

    from .model import Model
    from .spec import Field


@dataclass(frozen=True)
class Family:
    """One network family's declaration.

    Parameters
    ----------
    name : str
        The family's package name (``"srn"``).
    network_types : tuple of str
        The values of a scenario's ``network.type`` that this family builds. A family may have
        several configurations (the simple recurrent family builds two network types).
    titles : mapping str -> str
        Human name of each network type, for window titles and summaries.
    tables : callable(network_type) -> dict[str, Field]
        The family's top-level scenario tables (``[network]``, ``[patterns]``, ``[training]`` ...),
        validated declaratively like the common tables.
    build : callable(cfg, batch_size, rngs, base_dir, *, build_rng, first_trial) -> Model
        Turns a validated config into a model in its initial state. **Pure**: no training, no file
        written, nothing printed (``recurnet validate`` calls it). ``build_rng`` draws what all
        trials share, ``rngs[b]`` what trial b owns; ``first_trial`` is the run index of trial 0.
    train : callable(model, cfg, build_rng, base_dir) -> TrainingRun or None, optional
        Learning that happens before tick 0 (a Boltzmann machine's annealing cycles, an SRN's
        pre-training epochs), or None when the scenario asks for none. It must be lazy: it only
        *describes* the training, and no work happens before the first ``next()`` of its ticks
        (``validate`` calls it to check the declared ``outputs`` and never advances it). The
        engine drives it one training tick at a time (:meth:`Simulation.train_step`), so
        training is observable.
    summary : callable(model, b) -> dict, optional
        Extra result fields of trial ``b`` (``--json``, batch metrics).
    summary_hidden : tuple of str
        Extra result fields left out of the one-screen text summary (still in ``--json``).
    record_attributes : tuple of str
        Model attributes recorded every tick on top of the scenario's ``record.attributes``.
    derived_keys : tuple of DerivedKey
        Batch grid keys that set scenario keys from an easier quantity (``load`` = P/N); valid
        in experiments whose base scenario is one of this family's network types.
    view : callable(model) -> recurnet_sim.viewspec.ViewLayout, optional
        What the live viewer draws (blocks of units, value range, legend, panels, labels).
    state_space : callable(model, schedule, trial) -> recurnet_sim.analysis.attractors.StateSpace, optional
        The finite deterministic (T = 0) dynamics of trial ``trial``'s network, for
        ``recurnet attractors`` and the viewer's attractor panel; None: the family has none
        (the analysis refuses it).
    save_weights : callable(path, model) -> None, optional
        ``recurnet run --save-weights``: the family's weights file (data written through
        :func:`recurnet_sim.writer.write_bytes`).
    examples : mapping str -> Example
        One small scenario per network type that the common contract suite
        (``tests/test_contract.py``) runs. The default, no example, makes that suite fail for
        the family's network types: a family cannot escape it (scikit-learn's
        ``parametrize_with_checks``).
    """

    name: str
    network_types: tuple[str, ...]
    titles: Mapping[str, str]
    tables: Callable[[str], dict[str, "Field"]]
    build: Callable[..., "Model"]
    train: Callable[..., "TrainingRun"] | None = None
    summary: Callable[["Model", int], dict[str, Any]] | None = None
    summary_hidden: tuple[str, ...] = ()
    record_attributes: tuple[str, ...] = ()
    derived_keys: tuple["DerivedKey", ...] = ()
    view: Callable[["Model"], Any] | None = None
    state_space: Callable[..., Any] | None = None
    save_weights: Callable[[Any, "Model"], None] | None = None
    examples: Mapping[str, "Example"] = field(default_factory=dict)

    def title(self, network_type: str) -> str:
        return self.titles.get(network_type, network_type)


@dataclass
class TrainingRun:
    """Training as a sequence of ticks the engine drives (see :attr:`Family.train`).

    Parameters
    ----------
    ticks : iterator of dict
        Each ``next()`` performs one training tick (an annealing cycle, an epoch) and yields what
        it measured (``{"loss": ..., "solved": ...}``: numbers or booleans).
    total : int
        The most ticks it will run (it may stop early, e.g. once solved).
    unit : str
        What one tick is (``"cycle"``, ``"epoch"``), for progress lines and plot axes.
    curve : str
        The measurement the training curve plots (a key of what each tick yields).
    label : str
        What that curve is, in words (``"loss"``, ``"reconstruction error"``).
    finish : callable() -> None, optional
        Runs once after the last tick (e.g. resets momentum, puts the model in run mode).
    outputs : tuple of Output
        Files written when training ends (``training.save``), each by ``write(path)`` going through
        the atomic writer; the engine checks them before the first tick.
    quiet : bool
        The scenario asked for no progress line (``training.progress = false``).
    """

    ticks: Iterator[dict]
    total: int
    unit: str = "epoch"
    curve: str = "loss"
    label: str = "loss"
    finish: Callable[[], None] | None = None
    outputs: tuple["Output", ...] = ()
    quiet: bool = False


@dataclass(frozen=True)
class Output:
    """A file a training writes when it ends.

    Parameters
    ----------
    path : where
    write : callable(path) -> None, writing through :mod:`recurnet_sim.writer`
    key : the scenario key that asked for it (``"training.save"``), named in error messages
    """

    path: Path
    write: Callable[[Path], None]
    key: str = ""

    def check(self) -> None:
        """Refuse now (without writing) a path the writer would refuse at the end: raises
        :class:`~recurnet_sim.errors.OutputError` naming the key."""
        from .errors import OutputError
        from .writer import check_target

        try:
            check_target(self.path)
        except OutputError as exc:
            if not self.key:
                raise
            raise OutputError(exc.path, exc.problem, getattr(exc, "errno", None), key=self.key) from None


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A function that imports ``module`` on its first call and calls its ``name``: what a
    ``FAMILY`` declares, so that importing a family package stays light (the model code, the
    viewer layout and the analyses load only when used)."""
    def call(*args, **kw):
        return getattr(importlib.import_module(module), name)(*args, **kw)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{module}.{name}``, imported on first use."
    return call


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
#: network.type -> module that exports FAMILY, for the families shipped with recurnet_sim
_SHIPPED: dict[str, str] = {}
#: network.type -> Family, for families registered at run time (and shipped ones once imported)
_REGISTERED: dict[str, Family] = {}


def _shipped() -> dict[str, str]:
    if not _SHIPPED:
        from .families import SHIPPED
        _SHIPPED.update(SHIPPED)
    return _SHIPPED


def register(family: Family) -> Family:
    """Make ``family`` build its network types (a family outside the package, or a test's toy
    family). Returns it, so ``FAMILY = register(Family(...))`` works."""
    for t in family.network_types:
        _REGISTERED[t] = family
    return family


def unregister(family: Family) -> None:
    """Undo :func:`register` (tests)."""
    for t in family.network_types:
        if _REGISTERED.get(t) is family:
            del _REGISTERED[t]


def network_types() -> list[str]:
    """Every network.type a scenario may name (shipped and registered), in a stable order."""
    return list(dict.fromkeys([*_shipped(), *_REGISTERED]))


def family_for(network_type: str) -> Family:
    """The family that builds ``network_type`` (imports its package on first use).

    Raises
    ------
    KeyError
        When no family builds that type.
    ImportError
        When the family's package is missing from this installation.
    """
    fam = _REGISTERED.get(network_type)
    if fam is not None:
        return fam
    module = _shipped()[network_type]
    fam = importlib.import_module(module).FAMILY
    return fam


def families() -> list[Family]:
    """Every family (shipped ones imported), each once."""
    out: dict[int, Family] = {}
    for t in network_types():
        f = family_for(t)
        out.setdefault(id(f), f)
    return list(out.values())


# ---------------------------------------------------------------------------------------------
# what a family declares besides its model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DerivedKey:
    """A batch grid key that is not a scenario key but sets scenario keys (``load`` = P/N sets
    ``patterns.count``), declared by a family in :attr:`Family.derived_keys`.

    Parameters
    ----------
    name : str
        The key as written in ``[grid]`` or ``[set]``.
    doc : str
        One line for docs and error messages.
    sets : tuple of str
        The scenario key paths it sets (giving one of them too is an error).
    apply : callable(raw, value) -> dict
        Sees the raw (not yet validated) scenario mapping with every fixed and swept scenario key
        of the point already applied, and returns ``{scenario key path: value}``; raises
        :class:`~recurnet_sim.errors.ValidationError` (path ``""``) when the value or the
        scenario does not fit.
    value : recurnet_sim.spec.Field
        What a value of the key must be (checked for every grid value).
    label : str
        Axis label of batch plots (default: the name).
    """

    name: str
    doc: str
    sets: tuple[str, ...]
    apply: Callable[[dict, Any], dict]
    value: "Field"
    label: str = ""


def raw_value(raw: dict, path: str, default=None):
    """The value at dotted ``path`` of a raw scenario mapping, or ``default`` (for
    :attr:`DerivedKey.apply`)."""
    node = raw
    for k in path.split("."):
        if not isinstance(node, dict) or k not in node:
            return default
        node = node[k]
    return node


@dataclass(frozen=True)
class Example:
    """A scenario the contract suite runs for one network type (see :attr:`Family.examples`).

    Parameters
    ----------
    scenario : str
        A shipped scenario name (``"hopfield_letters"``) or the path of a scenario file.
    overrides : mapping str -> value
        Scenario keys set for the suite, to keep it fast (``{"training.cycles": 2}``).
    """

    scenario: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
