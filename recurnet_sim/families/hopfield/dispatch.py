"""Which module of the Hopfield family serves a scenario: the classic net (:mod:`.model`), a
dense associative memory (:mod:`.dense`, the classic type with a dense ``network.energy``) or the
continuous modern net (:mod:`.modern`, its own network type). ``FAMILY`` names these functions."""
from __future__ import annotations

from . import model as classic
from .modern import NETWORK_TYPE as MODERN


def tables(network_type: str):
    if network_type == MODERN:
        from . import modern
        return modern.scenario_tables(network_type)
    return classic.scenario_tables(network_type)


def build(cfg, batch_size, rngs, base_dir, build_rng=None, first_trial=0):
    if cfg["network"]["type"] == MODERN:
        from . import modern
        return modern.build(cfg, batch_size, rngs, base_dir, build_rng=build_rng, first_trial=first_trial)
    return classic.build(cfg, batch_size, rngs, base_dir, build_rng=build_rng, first_trial=first_trial)


def summary(model, b):
    if model.network_type == MODERN:
        from . import modern
        return modern.summary(model, b)
    return classic.summary(model, b)


def state_space(model, schedule=None, trial: int = 0):
    from . import dense, modern, statespace
    if model.network_type == MODERN:
        return modern.state_space(model, schedule, trial)
    if isinstance(model, dense.DenseHopfieldModel):
        return dense.state_space(model, schedule, trial)
    return statespace.state_space(model, schedule, trial)
