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
    test_cmd = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test,dask]" && python -m pytest'
    assert test_cmd in readme and test_cmd in ci


def test_every_scenario_and_experiment_named_in_the_docs_exists():
    """`recurnet run NAME`, `recurnet batch NAME` and `recurnet attractors NAME` in the README and
    the teaching guide name shipped files (and every --set key they use is valid)."""
    import re
    import shlex

    from recurnet_sim.experiment import load_experiment
    from recurnet_sim.scenario import load

    texts = [(ROOT / "README.md").read_text(), (ROOT / "docs" / "teaching.md").read_text()]
    seen = 0
    for text in texts:
        for line in re.findall(r"recurnet (?:run|batch|attractors) [^\n`|]+", text):
            if "FILE" in line or "EXPERIMENT" in line:  # the command table's placeholders
                continue
            words = shlex.split(line.split("#")[0])
            cmd, name = words[1], words[2]
            if name.startswith("-") or name.upper() == name:  # options or placeholders like FILE
                continue
            sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
            if "network.learnin=" in line:  # the README's deliberate typo, showing the error message
                import pytest

                from recurnet_sim.errors import ScenarioError
                with pytest.raises(ScenarioError, match="did you mean 'learning'"):
                    load(ROOT / "scenarios" / f"{name}.toml", sets)
                continue
            if cmd == "batch":
                load_experiment(ROOT / "scenarios" / "experiments" / f"{name}.toml", sets)
            else:
                path = ROOT / "scenarios" / f"{name}.toml"
                assert path.exists(), line
                load(path, sets)
            seen += 1
    assert seen >= 20
