"""Nothing outside ``recurnet_sim/families/`` names a family (issue 10's "done when").

Every module of recurnet_sim outside the family packages is parsed with :mod:`ast` and checked for
the three kinds of family special case:

(a) a string constant equal to a registered network type or family name (``if kind == "bam"``),
    or an f-string piece that is one; docstrings and other bare string statements are prose and
    may cite a family;
(b) an import of a family package (``recurnet_sim.families.<x>``, ``from .families import x``, or
    its dotted name in a string for ``importlib``); the registry's one access, ``from .families
    import SHIPPED`` in ``recurnet_sim/family.py``, is allowed;
(c) ``getattr`` / ``hasattr`` / ``setattr`` / ``delattr`` on a model: a first argument that is a
    name or attribute called ``m`` or ending in ``model`` (``model``, ``sim.model``,
    ``self.model``). A capability is a Model method with a documented default, not a probe.

Each offence is printed as ``file:line: what``; the count must be 0. The checker itself is tested
on small sources first, so a 0 cannot come from a checker that finds nothing.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recurnet_sim.family import families, network_types

PACKAGE = Path(__file__).resolve().parent.parent / "recurnet_sim"
FAMILIES_DIR = PACKAGE / "families"
PROBES = {"getattr", "hasattr", "setattr", "delattr"}
#: (module, imported name) pairs allowed to reach into recurnet_sim.families: the registry's table
ALLOWED_IMPORTS = {("recurnet_sim.family", "recurnet_sim.families.SHIPPED")}


def family_names() -> set[str]:
    """Every registered network type and family name."""
    return set(network_types()) | {f.name for f in families()}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute dotted name of a (possibly relative) ``from ... import`` source."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _is_model_expr(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name is not None and (name == "m" or name.lower().endswith("model"))


def offences(source: str, module: str, names: set[str], is_package: bool = False) -> list[tuple[int, str]]:
    """(line, what) of every family special case in one module's source."""
    tree = ast.parse(source)
    out: list[tuple[int, str]] = []
    prose = {id(st.value) for st in ast.walk(tree)
             if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)}
    pieces = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            text = node.value.strip() if id(node) in pieces else node.value
            if text in names:
                out.append((node.lineno, f"family name {node.value!r} in a string"
                            + (" (f-string piece)" if id(node) in pieces else "")))
            elif text.startswith("recurnet_sim.families."):
                out.append((node.lineno, f"family package named in a string: {node.value!r}"))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "recurnet_sim.families" or a.name.startswith("recurnet_sim.families."):
                    out.append((node.lineno, f"imports family package {a.name}"))
        elif isinstance(node, ast.ImportFrom):
            src = _absolute(module, is_package, node.level, node.module)
            for a in node.names:
                full = f"{src}.{a.name}"
                inside = src == "recurnet_sim.families" or src.startswith("recurnet_sim.families.")
                if inside and (module, full) not in ALLOWED_IMPORTS:
                    out.append((node.lineno, f"imports {a.name} from family package {src}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in PROBES:
            if node.args and _is_model_expr(node.args[0]):
                out.append((node.lineno, f"{node.func.id}({ast.unparse(node.args[0])}, ...) probes a model"))
    return sorted(out)


def modules_outside_families() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if FAMILIES_DIR not in p.parents)


# ---------------------------------------------------------------------------------------------
# the checker catches what it must, and only that
# ---------------------------------------------------------------------------------------------
NAMES = {"hopfield", "bam", "srn", "elman"}


@pytest.mark.parametrize("source, what", [
    ('if model.network_type == "hopfield":\n    pass\n', "family name 'hopfield' in a string"),
    ('KINDS = {"bam": 1}\n', "family name 'bam' in a string"),
    ('x = f"{a} elman"\n', "family name ' elman' in a string (f-string piece)"),
    ('importlib.import_module("recurnet_sim.families.srn.model")\n', "family package named in a string"),
    ("import recurnet_sim.families.hopfield.model\n", "imports family package recurnet_sim.families.hopfield.model"),
    ("from recurnet_sim.families.bam import model\n", "imports model from family package recurnet_sim.families.bam"),
    ("from .families.bam.model import BAM\n", "imports BAM from family package recurnet_sim.families.bam.model"),
    ("from ..families import srn\n", "imports srn from family package recurnet_sim.families"),
    ("from .families import SHIPPED\n", "imports SHIPPED from family package recurnet_sim.families"),
    ('n = getattr(model, "n_x", 0)\n', "getattr(model, ...) probes a model"),
    ('if hasattr(self.sim.model, "pairs_x"):\n    pass\n', "hasattr(self.sim.model, ...) probes a model"),
    ('k = getattr(m, "kind")\n', "getattr(m, ...) probes a model"),
])
def test_checker_finds(source, what):
    # modules at recurnet_sim.viewer.views (relative imports resolve from there: ".." = recurnet_sim)
    module = "recurnet_sim.analysis.x" if source.startswith("from ..") else "recurnet_sim.x"
    found = offences(source, module, NAMES)
    assert len(found) == 1 and found[0][1].startswith(what), found


def test_checker_leaves_prose_and_neutral_code_alone():
    source = '''"""Hopfield networks cite "hopfield" (Hopfield 1982) in a docstring."""
from .family import family_for
from .families import SHIPPED


def f(model, executor):
    """Docstring naming "bam"."""
    "bam"
    label = "Hopfield network"  # a title, not a name: names are lowercase identifiers
    workers = getattr(executor, "_max_workers", None)
    return family_for(model.network_type).title(model.network_type), label, workers
'''
    assert offences(source, "recurnet_sim.family", NAMES) == []
    # the same SHIPPED import from any other module is a second registry
    assert [w for _, w in offences(source, "recurnet_sim.engine", NAMES)] == [
        "imports SHIPPED from family package recurnet_sim.families"]


# ---------------------------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------------------------
def test_names_cover_every_registered_family():
    names = family_names()
    assert set(network_types()) <= names and len(names) >= len(network_types())


def test_no_family_special_case_outside_families(capsys):
    names = family_names()
    found = []
    for path in modules_outside_families():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        for line, what in offences(path.read_text(encoding="utf-8"), module_name(path), names,
                                   path.name == "__init__.py"):
            found.append(f"{rel}:{line}: {what}")
    for f in found:
        print(f)
    assert not found, f"{len(found)} family special case(s) outside recurnet_sim/families/:\n" + "\n".join(found)
