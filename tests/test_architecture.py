"""The import rules of docs/architecture.md, checked on every module of the package.

Two views: the import statements of each file (function-level imports included, which a plain
import would not execute) and a fresh interpreter that imports every module, in layer order,
and looks at what each group pulled into ``sys.modules``.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOORS = ("knowit.cli", "knowit.commands", "knowit.api")
RUNS = ("knowit.orchestrator", "knowit.sweeps")
# Comparison modules that train runs themselves (repeats, rolling-origin backtest) sit in the runs layer.
RUN_MODULES = ("knowit.comparison.repeats", "knowit.comparison.backtest")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "default_archs":
        parts = ["knowit", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = sorted(ROOT.joinpath("knowit").rglob("*.py")) + sorted(ROOT.joinpath("default_archs").glob("*.py"))
    return {_module_name(p): p for p in files}


def _imports(path: Path, name: str) -> set[str]:
    """Every knowit module a file names in an import statement (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from knowit import registry`
    return {m for m in found if m == "knowit" or m.startswith("knowit.")}


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# (who, may not import, why)
RULES = [
    (("knowit.commands",), ("knowit.cli",), "commands are loaded by the CLI, never the other way"),
    (("knowit.layers",), ("knowit",), "a layer imports nothing of knowit but knowit.errors"),
    (("knowit.data", "knowit.training", "knowit.layers", "knowit.config", "knowit.default_archs", "knowit.registry"),
     DOORS + RUNS, "the lower layers never import runs or doors"),
    (("knowit.results", "knowit.plots", "knowit.interpret", "knowit.comparison"), DOORS + RUNS,
     "results, plots, interpretation and comparison never import runs or doors"),
    (("knowit.orchestrator", "knowit.sweeps"), DOORS, "runs never import the doors"),
    (RUN_MODULES, DOORS, "runs never import the doors"),
]
ALLOWED = {"knowit.layers": ("knowit.layers", "knowit.errors")}


def test_import_statements_follow_the_rules() -> None:
    broken = []
    for name, path in _modules().items():
        for who, forbidden, why in RULES:
            if not _within(name, who) or (_within(name, RUN_MODULES) and who != ("knowit.orchestrator", "knowit.sweeps")):
                continue
            for target in _imports(path, name):
                if _within(target, forbidden) and not _within(target, ALLOWED.get(who[0], ())) and not _within(target, (name,)):
                    if who == ("knowit.layers",) and target == "knowit":
                        continue  # the bare package name of `from knowit.x import y`
                    broken.append(f"{path.relative_to(ROOT)} imports {target}: {why}")
    assert not broken, "\n".join(broken)


def test_only_the_cli_imports_the_commands_and_only_doors_import_the_api() -> None:
    broken = []
    for name, path in _modules().items():
        for target in _imports(path, name):
            if _within(target, ("knowit.commands",)) and not _within(name, ("knowit.cli", "knowit.commands")):
                broken.append(f"{path.relative_to(ROOT)} imports {target}")
            # the package's __init__ re-exports KnowIt; otherwise only the CLI calls the API
            if _within(target, ("knowit.api",)) and name != "knowit" and not _within(name, ("knowit.cli", "knowit.commands", "knowit.api")):
                broken.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not broken, "\n".join(broken)


_FRESH = """
import importlib, json, sys
groups = json.loads(sys.argv[1])
seen = {}
for label, names in groups:
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # report every module that does not import, not just the first
            failed[name] = f"{type(err).__name__}: {err}"
    seen[label] = {"loaded": sorted(m for m in sys.modules if m == "knowit" or m.startswith("knowit.")), "failed": failed}
print(json.dumps(seen))
"""


def test_every_module_imports_in_a_fresh_interpreter_and_lower_layers_pull_in_no_door() -> None:
    names = [n for n in _modules() if n != "knowit.__main__"]  # __main__ runs the CLI
    lower = [n for n in names if _within(n, ("knowit.layers", "knowit.config", "knowit.data", "knowit.training",
                                             "knowit.default_archs", "knowit.registry", "knowit.errors", "knowit.atomic_io", "knowit.rundir"))]
    results = [n for n in names if _within(n, ("knowit.results", "knowit.plots", "knowit.interpret", "knowit.comparison")) and not _within(n, RUN_MODULES)]
    commands = [n for n in names if _within(n, ("knowit.commands",))]
    groups = [("lower", lower), ("results", results), ("commands", commands), ("all", names)]
    out = subprocess.run([sys.executable, "-c", _FRESH, json.dumps(groups)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for label in seen:
        assert seen[label]["failed"] == {}, (label, seen[label]["failed"])
    for label, forbidden in (("lower", DOORS + RUNS), ("results", DOORS + RUNS), ("commands", ("knowit.cli",))):
        pulled = [m for m in seen[label]["loaded"] if _within(m, forbidden)]
        assert pulled == [], f"importing the {label} modules loaded {pulled}"
    assert set(names) <= set(seen["all"]["loaded"])


def test_arch_declarations_are_checked_and_read() -> None:
    """STATEFUL_ARG and INPUT_LAYOUT are what the framework reads; a wrong one is named by the checks."""
    import types
    from dataclasses import dataclass

    from knowit import registry
    from knowit.config.compose import compose
    from knowit.config.run_config import validate
    from knowit.plugin_check import check_plugin

    cfg = validate(compose(["arch=convlstm1d", "data=synth_field", "arch.stateful=true", "arch.data_format=channels_first"]))
    assert cfg.arch.stateful_key == "arch.stateful" and cfg.arch.input_layout == "field_channels_first"
    cfg = validate(compose(["arch=lstm", "arch.internal_state.tracking=true"]))
    assert cfg.arch.stateful_key == "arch.internal_state.tracking" and cfg.arch.input_layout == "series"
    assert validate(compose(["arch=lstm"])).arch.stateful_key is None

    @dataclass
    class ArchArgs:
        width: int = 4

    module = types.ModuleType("bad_decl")
    module.ArchArgs, module.Model, module.STATEFUL_ARG = ArchArgs, registry.resolve("mlp").Model, "width"
    assert any("STATEFUL_ARG='width'" in p and "not a bool field" in p for p in check_plugin(module))
    module.STATEFUL_ARG, module.INPUT_LAYOUT = None, "pixels"
    assert any("INPUT_LAYOUT" in p for p in check_plugin(module))


# Where a run's config may be read as plain containers: the config layer composes and validates
# it, the run directory reads the file, loading and resuming validate what they read.
RAW_CONFIG_READERS = ("knowit.config", "knowit.rundir", "knowit.results.load", "knowit.orchestrator") + DOORS
GROUP_KEYS = {"data", "arch", "trainer"}


def _raw_config_reads(tree: ast.AST, source: str) -> list[str]:
    """``x.read_config()``, ``x.config[...]``/``x.config.get(...)`` and ``x["data"|"arch"|"trainer"]``
    or ``x.get("data"|...)`` on anything but a summary (summary.json has a ``data`` entry too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, attr = node.func.value, node.func.attr
            if attr == "read_config":
                found.append(f"line {node.lineno}: read_config()")
            elif attr == "get" and isinstance(owner, ast.Attribute) and owner.attr == "config":
                found.append(f"line {node.lineno}: .config.get(...)")
            elif (attr == "get" and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in GROUP_KEYS
                  and "summary" not in (ast.get_source_segment(source, owner) or "")):
                found.append(f"line {node.lineno}: .get({node.args[0].value!r})")
        elif isinstance(node, ast.Subscript):
            if isinstance(node.value, ast.Attribute) and node.value.attr == "config":
                found.append(f"line {node.lineno}: .config[...]")
            elif (isinstance(node.slice, ast.Constant) and node.slice.value in GROUP_KEYS
                  and "summary" not in (ast.get_source_segment(source, node.value) or "")):
                found.append(f"line {node.lineno}: [{node.slice.value!r}]")
    return found


def test_below_the_doors_nothing_reads_a_raw_config_dict() -> None:
    """Everything below the doors reads the typed RunConfig (``LoadedRun.cfg``); the raw mapping
    is read only where it is composed or validated (docs/architecture.md)."""
    broken = []
    for name, path in _modules().items():
        if _within(name, RAW_CONFIG_READERS):
            continue
        source = path.read_text()
        broken += [f"{path.relative_to(ROOT)} {hit}" for hit in _raw_config_reads(ast.parse(source), source)]
    assert not broken, "\n".join(broken)


def test_the_raw_config_check_finds_what_it_looks_for() -> None:
    source = 'a = run.config["data"]\nb = loaded.config.get("arch")\nc = raw["trainer"]\nd = summary.get("data")\ne = r.read_config()\n'
    hits = _raw_config_reads(ast.parse(source), source)
    assert [h.split(":")[0] for h in hits].count("line 1") >= 1 and any("line 2" in h for h in hits)
    assert any("line 3" in h for h in hits) and any("line 5" in h for h in hits) and not any("line 4" in h for h in hits)
