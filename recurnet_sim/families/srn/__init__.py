"""Recurrent networks trained by backpropagation through time: the Elman (1990) and Jordan (1986)
networks, the LSTM (Hochreiter & Schmidhuber 1997, forget gate: Gers et al. 2000) and the GRU
(Cho et al. 2014) are this family's four cells.

``FAMILY`` declares everything the rest of recurnet_sim needs; the shared machinery is in
:mod:`.model`, each network type in :mod:`.elman` / :mod:`.jordan` / :mod:`.lstm` / :mod:`.gru`.
The four types share their scenario tables but for each cell's own keys, so the derived batch key
``cell`` sweeps the network type of one base scenario.
"""
from __future__ import annotations

from ...family import DerivedKey, Example, Family, lazy

CELL_TYPES = ("elman", "jordan", "lstm", "gru")


def _module(network_type: str):
    import importlib
    return importlib.import_module(f"{__name__}.{network_type}")


def _build(cfg, *args, **kw):
    return _module(cfg["network"]["type"]).build(cfg, *args, **kw)


def _tables(network_type: str):
    return _module(network_type).scenario_tables()


def _set_cell(raw, value):
    return {"network.type": value}


def _cell_key():
    from ...spec import Field
    return DerivedKey("cell", "the recurrent cell: sets network.type (the base scenario uses only the keys the four "
                      "types share)", ("network.type",), _set_cell, Field("str", "elman", "cell", choices=CELL_TYPES),
                      "cell (network.type)")


FAMILY = Family(
    name="srn",
    network_types=CELL_TYPES,
    titles={"elman": "Elman network", "jordan": "Jordan network", "lstm": "LSTM network", "gru": "GRU network"},
    tables=_tables,
    build=_build,
    train=lazy(f"{__name__}.model", "pretraining"),
    summary=lazy(f"{__name__}.outcome", "summary"),  # the model's summary_for plus "outcome"
    view=lazy(f"{__name__}.view", "layout"),
    summary_hidden=("mode", "final_loss", "epochs", "outcome"),
    record_attributes=("loss_per_step_", "grad_norm_"),
    save_weights=lazy(f"{__name__}.model", "save_model"),
    examples={"elman": Example("elman_letters", {"task.n_consonants": 60}),
              "jordan": Example("jordan_sequence"),
              "lstm": Example("lstm_delayed_recall", {"training.pretrain_epochs": 0}),
              "gru": Example("gru_delayed_recall", {"training.pretrain_epochs": 0})},
    derived_keys=(_cell_key(),),
)
