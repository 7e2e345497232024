"""Network families. Each family lives in its own module and is imported only when used."""
from __future__ import annotations

import importlib

#: family name -> module implementing it (see ``recurnet_sim.scenario`` for the module interface)
FAMILIES = {
    "hopfield": "recurnet_sim.models.hopfield",
    "bam": "recurnet_sim.models.bam",
    "boltzmann": "recurnet_sim.models.boltzmann",
    "elman": "recurnet_sim.models.elman",
    "jordan": "recurnet_sim.models.jordan",
}


def family_module(name: str):
    """Import and return the module of a family."""
    return importlib.import_module(FAMILIES[name])


def available_families() -> list[str]:
    """Families whose module exists in this installation."""
    out = []
    for name, mod in FAMILIES.items():
        if importlib.util.find_spec(mod) is not None:
            out.append(name)
    return out
