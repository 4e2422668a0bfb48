"""The package's layers: each module imports only from its own layer or those below, no circles.

Why a test: the layout is how a newcomer finds the paper's method (the package's top) among
kernels, run plumbing and reports; an import from a lower layer up (say the neuron needing
the run code) or a circle would make `import rouser` pull in the training and report stacks
again and tie the method to them. Imports are read from the source (`ast`), lazy ones too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rouser"

# Lowest first. A module not named here takes the layer of its subpackage.
LAYERS: list[tuple[str, ...]] = [
    (
        "rouser.paths",
        "rouser.config",
        "rouser.datasets",
        "rouser.atomic",
        "rouser.events",
        "rouser.surrogate",
        "rouser.fixed_point",
        "rouser.kernels.expf",
        "rouser.kernels.threads",
    ),
    ("rouser.kernels",),
    (
        "rouser",
        "rouser.dynamics",
        "rouser.neuron",
        "rouser.network",
        "rouser.loss",
        "rouser.optim",
        "rouser.nir_graph",
        "rouser.nir_peers",
    ),
    ("rouser.data",),
    ("rouser.runs",),
    ("rouser.report",),
    ("rouser.__main__",),
]


def module_name(path: Path) -> str:
    """`rouser/runs/train.py` -> `rouser.runs.train`; a package's `__init__` is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of `module`: its own entry, else its closest enclosing package's."""
    candidates = [module, *(module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1))]
    for name in candidates:
        for index, members in enumerate(LAYERS):
            if name in members:
                return index
    raise AssertionError(f"{module} belongs to no layer of tests/test_layers.py")


def rouser_imports(path: Path, modules: set[str]) -> set[str]:
    """The rouser modules `path` imports (`from rouser import x` counts as `rouser.x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("rouser")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rouser"):
            base = node.module
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {base}
    return found


GRAPH = {module_name(path): path for path in PACKAGE.rglob("*.py")}
IMPORTS = {name: rouser_imports(path, set(GRAPH)) for name, path in GRAPH.items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_from_a_higher_layer(module: str) -> None:
    higher = sorted(target for target in IMPORTS[module] if layer(target) > layer(module))
    assert not higher, f"{module} (layer {layer(module)}) imports from above: {higher}"


def test_the_import_graph_has_no_circle() -> None:
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import circle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for target in IMPORTS.get(module, ()):
            if target != module:
                visit(target, (*path, module))
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, ())


def test_import_rouser_loads_the_method_only() -> None:
    """`import rouser` gives the public API without pandas, matplotlib or the run code."""
    code = (
        "import sys, rouser; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'matplotlib', 'h5py', 'tonic', 'nir') or m.startswith('rouser.runs')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
    import rouser

    assert {"CubaLIF", "SpikingMLP", "build_network", "spike_rate_loss"} <= set(rouser.__all__)
