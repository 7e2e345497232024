"""Simple recurrent networks trained by backpropagation through time: the Elman (1990) and Jordan
(1986) networks are this family's two configurations.

``FAMILY`` declares everything the rest of recurnet_sim needs; the shared machinery is in
:mod:`.model`, each network type in :mod:`.elman` / :mod:`.jordan`.
"""
from __future__ import annotations

from ...family import Example, Family, lazy


def _module(network_type: str):
    import importlib
    return importlib.import_module(f"{__name__}.{network_type}")


def _build(cfg, *args, **kw):
    return _module(cfg["network"]["type"]).build(cfg, *args, **kw)


def _tables(network_type: str):
    return _module(network_type).scenario_tables()


FAMILY = Family(
    name="srn",
    network_types=("elman", "jordan"),
    titles={"elman": "Elman network", "jordan": "Jordan network"},
    tables=_tables,
    build=_build,
    train=lazy(f"{__name__}.model", "pretraining"),
    summary=lazy(f"{__name__}.model", "summary_for"),
    view=lazy(f"{__name__}.view", "layout"),
    summary_hidden=("mode", "final_loss", "epochs"),
    record_attributes=("loss_per_step_", "grad_norm_"),
    save_weights=lazy(f"{__name__}.model", "save_model"),
    examples={"elman": Example("elman_letters", {"task.n_consonants": 60}),
              "jordan": Example("jordan_sequence")},
)
