"""The house plan: every module under src/tinylm imports only its own layer or layers below it.

    config + models -> data -> engines / checkpoints -> sampling -> training -> api / lab / course -> cli

Lower layers know nothing of higher ones, so a newcomer can read (and test) the package bottom-up, and a
change to the lab or the CLI never reaches the engines. Imports inside functions count too: a lazy upward
import is still an upward import.
"""
from __future__ import annotations

import ast
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

# Found without importing it, so a module that cannot even be imported (an import cycle) is still read.
PACKAGE = Path(importlib.util.find_spec("tinylm").origin).parent

# Low to high. A top-level module or subpackage of tinylm belongs to exactly one layer.
LAYERS: list[set[str]] = [
    {"errors", "seeding", "config", "models"},  # configs, and the model families they are checked against
    {"data", "presets"},                     # text and tokens; named (model, train) configs
    {"engines", "checkpoints"},              # compute on parameters; parameters on disk
    {"sampling"},                            # text from an engine
    {"compat"},                              # replays of microgpt.py / nanoGPT (their RNG, init, sampling)
    {"training"},                            # the loop, its events, schedules, the doctor
    {"api", "lab", "course", "plotting"},    # the notebook API, the browser lab, the course
    {"cli", "__init__", "__main__"},         # entry points (tinylm/__init__ re-exports the notebook API)
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported tinylm module, line) for every import statement in ``path``, relative ones resolved."""
    module = module_name(path, package)
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == package.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != package.name:
                continue
            for alias in node.names:   # `from .. import sampling` imports the subpackage tinylm.sampling
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return found


def component(module: str) -> str:
    """tinylm.engines.numpy_engine.gpt -> engines; tinylm -> __init__; tinylm.__main__ -> __main__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph(package: Path) -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every tinylm import in the package."""
    files = sorted(package.rglob("*.py"))
    known = {module_name(path, package) for path in files}
    return sorted({(module_name(path, package), target, line)     # one entry per imported module and line
                   for path in files for target, line in imports_of(path, package, known)})


def upward_imports(package: Path) -> list[str]:
    problems = []
    for source, target, line in import_graph(package):
        low, high = component(source), component(target)
        if low not in RANK or high not in RANK:
            problems.append(f"{source}: {low if low not in RANK else high!r} is in no layer of LAYERS")
        elif RANK[high] > RANK[low]:
            problems.append(f"{source} line {line} imports {target} ({low} is below {high})")
    return problems


def test_nothing_imports_upward():
    graph = import_graph(PACKAGE)
    counts = Counter((component(s), component(t)) for s, t, _ in graph if component(s) != component(t))
    print(f"\n{len(graph)} tinylm imports; between components:")
    for (source, target), n in sorted(counts.items(), key=lambda item: (RANK.get(item[0][0], -1), item[0])):
        print(f"  {source:>12} -> {target:<12} {n:3d}")
    problems = upward_imports(PACKAGE)
    print(f"upward imports: {len(problems)}")
    assert problems == [], "\n".join(problems)


def test_every_component_has_a_layer():
    components = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
                  if (path.suffix == ".py" or (path / "__init__.py").exists())}
    assert components - set(RANK) == set(), "add the new module to a layer of LAYERS"
    assert "config" in components and "training" in components   # the walk sees the real package


@pytest.mark.parametrize("line, upward", [
    ("from ..training.loop import Trainer", True),         # engines -> training
    ("from ...lab import app", True),                      # engines.numpy_engine -> lab
    ("import tinylm.cli.main", True),
    ("from .. import sampling", True),                     # engines -> sampling (a subpackage by name)
    ("def f():\n    from ..api import train", True),       # a lazy import counts
    ("from ..config import ModelConfig", False),
    ("from ..models.params import param_specs", False),
    ("from .base import Engine", False),
    ("from .. import checkpoints", False),                 # the same layer
])
def test_an_upward_import_is_caught(tmp_path, line, upward):
    """The checker on a copy of the package's shape with one extra import in engines/."""
    root = tmp_path / "tinylm"
    for package in ("", "engines", "engines/numpy_engine", "training", "lab", "api", "cli", "config", "models",
                    "sampling", "checkpoints"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for module in ("training/loop.py", "cli/main.py", "config/model.py", "models/params.py", "engines/base.py"):
        (root / module).write_text("")
    target = root / ("engines/numpy_engine/gpt.py" if line.startswith("from ...") else "engines/extra.py")
    target.write_text(line + "\n")
    problems = upward_imports(root)
    assert bool(problems) == upward, problems
    if upward:
        assert target.stem in problems[0] and "is below" in problems[0]
