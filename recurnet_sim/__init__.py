"""recurnet_sim — a simulator of the classic recurrent networks.

Hopfield, BAM, the Boltzmann machine, and the Elman and Jordan simple recurrent networks, run by
one discrete-time engine, observed by recorders, perturbed through one command API.

``import recurnet_sim`` imports numpy only: pygame, matplotlib and networkx load when used.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import RecurnetError, ScenarioError, ValidationError  # noqa: E402

__all__ = ["__version__", "RecurnetError", "ScenarioError", "ValidationError", "load_scenario", "Simulation"]


def __getattr__(name):
    # Lazy so that `import recurnet_sim` stays light.
    if name == "load_scenario":
        from .scenario import load_scenario

        return load_scenario
    if name == "Simulation":
        from .engine import Simulation

        return Simulation
    raise AttributeError(name)
