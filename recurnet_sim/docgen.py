"""Generate ``docs/scenarios.md`` from the validation tables, so the reference cannot drift.

    python -m recurnet_sim.docgen > docs/scenarios.md

``tests/test_docs.py`` fails when the committed file differs from what this prints.
"""
from __future__ import annotations

from .family import family_for, network_types
from .scenario import common_tables
from .spec import Table, render_markdown, with_common_dynamics

INTRO = """# Scenario file reference

A scenario is a TOML file (read with `tomllib`: data, never code). `recurnet validate FILE` checks it;
`recurnet run FILE --set key.path=value` overrides any key below and is validated the same way.
Every problem is reported at once, one line each, naming the file and the key path:

    run.toml: network.learning: must be one of 'hebbian', 'storkey', 'pseudo_inverse', got 'hebb' (did you mean 'hebbian'?)

Values written `none` may be given as the string `"none"` (or left out) to mean "not set".
Generated from the code by `python -m recurnet_sim.docgen`; do not edit by hand.

**Tick order** (every family): perturb → anneal → update → record → stop. A `[training]` table is
learned before tick 0, as separate training ticks (one learning cycle or epoch each) that the engine
drives and `recurnet run` reports on stderr; `recurnet validate` checks the table but never trains
and never writes `training.save`. A *tick* is one
sweep (N unit updates) or one synchronous update for Hopfield and Boltzmann, one pass for BAM, and
one training epoch (mode `train`) or one time step (modes `run`/`free`) for Elman and Jordan.
"""


def render() -> str:
    parts = [INTRO, render_markdown(Table(common_tables(), "Tables every scenario may have, whatever the family."),
                                    "Common tables", level=2)]
    for kind in network_types():
        try:
            fam = family_for(kind)
        except ImportError:
            continue  # a family missing from this installation
        parts.append(render_markdown(Table(with_common_dynamics(fam.tables(kind)), f"{fam.title(kind)} (family `{fam.name}`)."),
                                     f"`network.type = \"{kind}\"`", level=2))
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
