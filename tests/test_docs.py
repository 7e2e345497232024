"""The scenario reference is generated from the validation tables: it must match the code."""
from pathlib import Path

from recurnet_sim.docgen import render

ROOT = Path(__file__).resolve().parents[1]


def test_scenario_reference_is_current():
    committed = (ROOT / "docs" / "scenarios.md").read_text()
    assert committed == render(), "docs/scenarios.md is stale: run `python -m recurnet_sim.docgen > docs/scenarios.md`"


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest'
    assert test_cmd in readme and test_cmd in ci
