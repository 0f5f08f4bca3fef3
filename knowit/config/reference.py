"""Generate ``docs/config_reference.md`` from the schemas: every key with type, default and meaning.

The meaning of a field is the comment on its line in the schema source (or the comment lines
directly above it), so the schema stays the one place to document a key. Regenerate with
``python -m knowit.config.reference > docs/config_reference.md``; a test fails when the file and
the schemas disagree.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import typing
from typing import Any

from knowit.config.validate import _type_name


def _comments(cls: type) -> dict[str, str]:
    """Field name -> its source comment (trailing, else the comment block right above it)."""
    lines, _ = inspect.getsourcelines(cls)
    source = "".join(lines)
    by_line: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            by_line[tok.start[0]] = tok.string.lstrip("#").strip()
    out: dict[str, str] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        name = stripped.split(":", 1)[0].strip()
        if name not in names or name in out or not line.startswith("    ") or line.startswith("     "):
            continue
        text = by_line.get(number)
        if not text:
            above, k = [], number - 1
            while k in by_line and source.splitlines()[k - 1].strip().startswith("#"):
                above.insert(0, by_line[k])
                k -= 1
            text = " ".join(above)
        out[name] = text
    return out


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _show(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if dataclasses.is_dataclass(value):
        return "(see below)"
    return f"`{value}`"


def _constraints(field: dataclasses.Field) -> str:
    meta = field.metadata
    parts = []
    if "choices" in meta:
        parts.append("one of " + ", ".join("null" if c is None else str(c) for c in meta["choices"]))
    for key, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in meta:
            parts.append(f"{sign} {meta[key]}")
    if "length" in meta:
        parts.append(f"length {meta['length']}")
    return "; ".join(parts)


def rows(cls: type, prefix: str) -> list[tuple[str, str, str, str]]:
    """``(key, type, default, meaning)`` for every field of ``cls``, nested dataclasses flattened."""
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        default = _default(f)
        meaning = comments.get(f.name, "")
        extra = _constraints(f)
        if extra:
            meaning = f"{meaning} ({extra})" if meaning else f"({extra})"
        if dataclasses.is_dataclass(tp):
            out.append((key, "group", "", meaning or (inspect.getdoc(tp) or "").splitlines()[0]))
            out += rows(tp, key + ".")
        else:
            out.append((key, _type_name(tp), _show(default), meaning))
    return out


def _table(entries: list[tuple[str, str, str, str]]) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, tp, default, meaning in entries:
        lines.append(f"| `{key}` | {tp.replace('|', '&#124;')} | {default} | {meaning.replace('|', '&#124;')} |")
    return "\n".join(lines)


def sections() -> list[tuple[str, str, list[tuple[str, str, str, str]]]]:
    from knowit import registry
    from knowit.config.schema import DataConfig, RootConfig, TrainerConfig

    out = [
        ("Top-level keys", inspect.getdoc(RootConfig) or "", rows(RootConfig, "")),
        ("`data`", inspect.getdoc(DataConfig) or "", rows(DataConfig, "data.")),
        ("`trainer`", inspect.getdoc(TrainerConfig) or "", rows(TrainerConfig, "trainer.")),
    ]
    for name in registry.available_archs():
        module = registry.resolve(name)
        doc = (inspect.getdoc(module.ArchArgs) or "").splitlines()[0] if inspect.getdoc(module.ArchArgs) else ""
        tasks = ", ".join(registry.supported_tasks(module))
        out.append((f"`arch` = `{name}`", f"{doc} Tasks: {tasks}. Select with `arch={name}` (or `arch.name={name}`).", rows(module.ArchArgs, "arch.")))
    from knowit.config import options

    for title, cls, prefix in (
        ("Options: `predictor`", options.PredictorConfig, "predictor."),
        ("Options: `viz`", options.VisualizeOptions, ""),
        ("Options: `interpreter`", options.InterpreterConfig, "interpreter."),
        ("Options: `compare`", options.CompareOptions, ""),
        ("Options: `backtest`", options.BacktestOptions, ""),
    ):
        doc = " ".join((inspect.getdoc(cls) or "").split())
        out.append((title, f"{doc} Checked by the same validator as the config keys.", rows(cls, prefix)))
    return out


def reference() -> str:
    parts = [
        "# Config reference",
        "",
        "Generated from the schemas by `python -m knowit.config.reference > docs/config_reference.md`;",
        "do not edit by hand (a test compares this file with the schemas). Set any key on the command",
        "line (`python -m knowit train trainer.max_epochs=5`) or in the API's `kwargs`",
        "(`{'trainer': {'max_epochs': 5}}`). A misspelled key or a wrong type is refused before anything runs.",
    ]
    for title, doc, entries in sections():
        parts += ["", f"## {title}", ""]
        if doc:
            parts += [" ".join(doc.split()), ""]
        parts.append(_table(entries))
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
