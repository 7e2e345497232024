"""Declarative validation of scenario and experiment tables.

A :class:`Table` knows its keys; each :class:`Field` knows its type, range, allowed values and
default (the scikit-learn "constraint table" idea). :func:`validate` checks a parsed TOML mapping
against a table, fills defaults and collects *every* problem with its dotted key path, so a user
sees all mistakes at once, each in one template::

    run.toml: network.size: must be an integer >= 2, got 0

Unknown keys suggest the closest valid one. The same tables render the key reference in
``docs/scenarios.md`` (:func:`render_markdown`), so the docs cannot drift from the code.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Mapping

from .errors import ScenarioError, ValidationError

REQUIRED = object()
_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "table": "a table",
    "any": "a value",
}


@dataclass(frozen=True)
class Field:
    """One key of a table.

    Parameters
    ----------
    kind : {"int", "float", "bool", "str", "list", "table", "any"}
    default : object
        Value used when the key is absent; ``REQUIRED`` makes the key mandatory.
    doc : str
        One line for the reference docs.
    choices : tuple
        Allowed values (for ``str``; also checked for list items).
    min, max : float, optional
        Inclusive numeric bounds (for ``int``/``float``, and for list items).
    item : Field, optional
        Type of the items of a ``list``.
    length : int or tuple, optional
        Exact length, or (min, max) length, of a ``list``.
    table : Table, optional
        Sub-table for ``table`` fields; for a ``list`` of tables use ``item=Field("table", table=...)``.
    nullable : bool
        Whether the string ``"none"`` / a missing value may stand for "not set" (gives ``None``).
    alt : tuple of Field
        Alternative accepted forms (e.g. a number *or* a list of numbers); the first that validates wins.
    check : callable, optional
        Extra check ``check(value) -> str | None`` returning a message when the value is bad.
    """

    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    item: "Field | None" = None
    length: int | tuple | None = None
    table: "Table | None" = None
    nullable: bool = False
    alt: tuple = ()
    check: Callable[[Any], str | None] | None = None

    def describe(self) -> str:
        """What is allowed, as words (used in error messages and docs)."""
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = _TYPE_NAMES.get(self.kind, self.kind)
            if self.kind == "list" and self.item is not None:
                text = "a list of " + _plural(self.item.describe())
                if isinstance(self.length, int):
                    text = f"a list of {self.length} " + _plural(self.item.describe())
            lo, hi = self.min, self.max
            if lo is not None and hi is not None:
                text += f" in [{_fmt(lo)}, {_fmt(hi)}]"
            elif lo is not None:
                text += f" >= {_fmt(lo)}"
            elif hi is not None:
                text += f" <= {_fmt(hi)}"
        for a in self.alt:
            text += " or " + a.describe()
        if self.nullable:
            text += ' (or "none")'
        return text


def _plural(text: str) -> str:
    for art in ("an ", "a "):
        if text.startswith(art):
            word, _, rest = text[len(art):].partition(" ")
            return word + "s" + (" " + rest if rest else "")
    return text


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass
class Table:
    """A TOML table: named fields, optionally open to extra keys.

    Parameters
    ----------
    fields : dict[str, Field]
    doc : str
        A paragraph for the reference docs.
    open : bool
        If true, keys not listed are passed through unvalidated (used for ``[view]`` extras).
    """

    fields: dict[str, Field]
    doc: str = ""
    open: bool = False
    extra_check: Callable[[dict, str], list[ValidationError]] | None = dc_field(default=None, repr=False)


def _got(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list" if len(value) > 6 else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def check_value(value: Any, spec: Field, path: str, errors: list[ValidationError], source: str | None) -> Any:
    """Check one value; append errors; return the normalised value (or None on error)."""
    if spec.alt:
        trial: list[ValidationError] = []
        out = _check_one(value, spec, path, trial, source)
        if not trial:
            return out
        for a in spec.alt:
            trial = []
            out = _check_one(value, a, path, trial, source)
            if not trial:
                return out
        errors.append(ValidationError(path, f"must be {spec.describe()}, got {_got(value)}", source))
        return None
    return _check_one(value, spec, path, errors, source)


def _check_one(value: Any, spec: Field, path: str, errors: list[ValidationError], source: str | None) -> Any:
    def bad(msg: str | None = None) -> None:
        errors.append(ValidationError(path, msg or f"must be {spec.describe()}, got {_got(value)}", source))
        return None

    if spec.nullable and (value is None or (isinstance(value, str) and value.lower() == "none")):
        return None
    kind = spec.kind
    if kind == "any":
        out = value
    elif kind == "bool":
        if not isinstance(value, bool):
            return bad()
        out = value
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                value = int(value)
            else:
                return bad()
        out = value
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return bad()
        out = float(value)
        if math.isnan(out):
            return bad()
    elif kind == "str":
        if not isinstance(value, str):
            return bad()
        out = value
        if spec.choices and value not in spec.choices:
            hint = difflib.get_close_matches(value, [str(c) for c in spec.choices], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            return bad(f"must be {spec.describe()}, got {value!r}{extra}")
        return _extra(out, spec, path, errors, source)
    elif kind == "list":
        if not isinstance(value, list):
            return bad()
        n = len(value)
        if isinstance(spec.length, int) and n != spec.length:
            return bad(f"must be {spec.describe()}, got {n} item{'s' if n != 1 else ''}")
        if isinstance(spec.length, tuple):
            lo, hi = spec.length
            if n < lo or (hi is not None and n > hi):
                what = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
                return bad(f"must have {what} items, got {n}")
        if spec.item is not None:
            before = len(errors)
            out = [check_value(v, spec.item, f"{path}[{i}]", errors, source) for i, v in enumerate(value)]
            if len(errors) > before:
                return None
        else:
            out = list(value)
        return _extra(out, spec, path, errors, source)
    elif kind == "table":
        if not isinstance(value, Mapping):
            return bad()
        assert spec.table is not None
        return validate(value, spec.table, path, errors, source)
    else:  # pragma: no cover - programming error
        raise AssertionError(f"unknown field kind {kind}")
    if kind in ("int", "float"):
        if (spec.min is not None and out < spec.min) or (spec.max is not None and out > spec.max):
            return bad()
        if kind == "float" and math.isinf(out):
            return bad()  # no key of a scenario means anything at infinity
    if spec.choices and out not in spec.choices:
        return bad()
    return _extra(out, spec, path, errors, source)


def _extra(out, spec, path, errors, source):
    if spec.check is not None and out is not None:
        msg = spec.check(out)
        if msg:
            errors.append(ValidationError(path, msg, source))
            return None
    return out


def validate(
    data: Mapping,
    table: Table,
    path: str = "",
    errors: list[ValidationError] | None = None,
    source: str | None = None,
) -> dict:
    """Validate ``data`` against ``table``; fill defaults.

    When ``errors`` is None, raises :class:`ScenarioError` listing every problem; otherwise appends
    to ``errors`` and returns what could be validated.
    """
    own = errors is None
    errs: list[ValidationError] = [] if own else errors
    out: dict = {}
    if not isinstance(data, Mapping):
        errs.append(ValidationError(path, f"must be a table, got {_got(data)}", source))
        if own:
            raise ScenarioError(errs, source)
        return out
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        if key not in table.fields:
            if table.open:
                out[key] = value
                continue
            hint = difflib.get_close_matches(key, list(table.fields), n=1, cutoff=0.6)
            allowed = ", ".join(table.fields) or "(none)"
            msg = f"unknown key (did you mean {hint[0]!r}?)" if hint else f"unknown key; allowed keys: {allowed}"
            errs.append(ValidationError(sub, msg, source))
            continue
        out[key] = check_value(value, table.fields[key], sub, errs, source)
    for key, spec in table.fields.items():
        if key in out:
            continue
        sub = f"{path}.{key}" if path else key
        if spec.default is REQUIRED:
            errs.append(ValidationError(sub, f"is required ({spec.describe()})", source))
        elif spec.kind == "table" and spec.default is None and spec.table is not None and not spec.nullable:
            out[key] = validate({}, spec.table, sub, errs, source)
        else:
            out[key] = _copy_default(spec.default)
    if table.extra_check is not None and not errs:
        errs.extend(table.extra_check(out, path))
        for e in errs:
            e.source = e.source or source
    if own and errs:
        raise ScenarioError(errs, source)
    return out


def _copy_default(value):
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


#: ``dynamics.kernel``, a key of every family's ``[dynamics]`` table (:func:`with_common_dynamics`);
#: :mod:`recurnet_sim.kernels` reads it (the environment variable ``RECURNET_KERNEL`` overrides it)
KERNEL_FIELD = Field("str", "compiled", "inner loops: compiled (numba, cached after the first run; the numpy "
                     "kernels when numba is missing) or numpy (the reference); both give the same numbers",
                     choices=("numpy", "compiled"))


def with_common_dynamics(tables: dict[str, Field]) -> dict[str, Field]:
    """A family's top-level tables with the keys every ``[dynamics]`` table has (``kernel``) added
    (a family without a ``[dynamics]`` table gets one holding only them)."""
    out = dict(tables)
    dyn = out.get("dynamics")
    if dyn is None or dyn.table is None:
        out["dynamics"] = Field("table", None, "dynamics", table=Table({"kernel": KERNEL_FIELD}, "How the units update."))
    elif "kernel" not in dyn.table.fields:
        t = dyn.table
        table = Table({**t.fields, "kernel": KERNEL_FIELD}, t.doc, t.open, t.extra_check)
        out["dynamics"] = Field(dyn.kind, dyn.default, dyn.doc, dyn.choices, dyn.min, dyn.max, dyn.item, dyn.length,
                                table, dyn.nullable, dyn.alt, dyn.check)
    return out


def render_markdown(table: Table, title: str, path: str = "", level: int = 2) -> str:
    """Render a table's keys as a Markdown reference section."""
    lines = [f"{'#' * level} {title}", ""]
    if table.doc:
        lines += [table.doc, ""]
    rows = []
    subs = []
    for key, f in table.fields.items():
        full = f"{path}.{key}" if path else key
        if f.kind == "table" and f.table is not None:
            subs.append((full, f.table, f.doc))
            continue
        if f.kind == "list" and f.item is not None and f.item.kind == "table" and f.item.table is not None:
            subs.append((f"[[{full}]]", f.item.table, f.doc))
            continue
        default = "required" if f.default is REQUIRED else f"`{_toml_repr(f.default)}`"
        rows.append(f"| `{full}` | {f.describe()} | {default} | {f.doc} |")
    if rows:
        lines += ["| key | allowed | default | meaning |", "|---|---|---|---|", *rows, ""]
    for full, sub, doc in subs:
        name = full.strip("[]")
        lines.append(render_markdown(sub, f"`{full}`" + (f" — {doc}" if doc else ""), name, level + 1))
    return "\n".join(lines)


def _toml_repr(v) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse a ``--set key.path=value`` argument; the value is read as a TOML value when it can be
    (``3``, ``0.5``, ``true``, ``[1, 2]``), otherwise kept as a plain string (``storkey``)."""
    import tomllib

    if "=" not in text:
        raise ScenarioError([ValidationError("", f"--set expects key.path=value, got {text!r}", "--set")])
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ScenarioError([ValidationError(key, f"--set expects key.path=value, got {text!r}", "--set")])
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str] | dict | None) -> dict:
    """Apply ``--set`` style overrides (``["network.learning=storkey"]`` or ``{"network.learning": "storkey"}``)
    to a nested dict (in place) before validation, so overridden values are validated like the file."""
    if not overrides:
        return data
    items = overrides.items() if isinstance(overrides, Mapping) else None
    pairs = []
    if items is not None:
        for k, v in items:
            pairs.append((str(k).split("."), v))
    else:
        pairs = [parse_override(t) for t in overrides]
    for keys, value in pairs:
        node = data
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                where = ".".join(keys[: i + 1])
                raise ScenarioError([ValidationError(where, "is not a table, cannot set a key inside it", "--set")])
            node = nxt
        node[keys[-1]] = value
    return data
