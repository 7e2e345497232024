"""Simple recurrent networks trained by backpropagation through time: the Elman (1990) and Jordan
(1986) networks are this family's two configurations.

``FAMILY`` declares everything the rest of recurnet_sim needs; the shared machinery is in
:mod:`.model`, each network type in :mod:`.elman` / :mod:`.jordan`.
"""
from __future__ import annotations

from ...family import Example, Family


def _module(network_type: str):
    import importlib
    return importlib.import_module(f"{__name__}.{network_type}")


def _build(cfg, *args, **kw):
    return _module(cfg["network"]["type"]).build(cfg, *args, **kw)


def _tables(network_type: str):
    return _module(network_type).scenario_tables()


def _summary(model, b):
    from .model import summary_for
    return summary_for(model, b)


def _train(model, cfg, build_rng, base_dir):
    from .model import pretraining
    return pretraining(model, cfg, build_rng, base_dir)


def _save_weights(path, model):
    from .model import save_model
    save_model(path, model)


def _view(model):
    from .view import layout
    return layout(model)


FAMILY = Family(
    name="srn",
    network_types=("elman", "jordan"),
    titles={"elman": "Elman network", "jordan": "Jordan network"},
    tables=_tables,
    build=_build,
    train=_train,
    summary=_summary,
    view=_view,
    summary_hidden=("mode", "final_loss", "epochs"),
    record_attributes=("loss_per_step_", "grad_norm_"),
    save_weights=_save_weights,
    examples={"elman": Example("elman_letters", {"task.n_consonants": 60}),
              "jordan": Example("jordan_sequence")},
)
