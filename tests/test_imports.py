"""The import graph of src/resdeep: no module imports one that imports it back (function-level imports included)."""
import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"


def module_files() -> dict:
    """{dotted module name: path} for every module of the resdeep package."""
    modules = {}
    for path in (SOURCE / "resdeep").rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(path: Path, modules: dict) -> set:
    """The resdeep modules a file imports, at the top or inside functions.

    `from package import submodule` counts as importing the submodule (the package's __init__ runs for every
    submodule import, so it is not an edge of its own)."""

    def known(name: str):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {known(alias.name) for alias in node.names if alias.name.startswith("resdeep")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("resdeep"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
            found |= submodules if len(submodules) == len(node.names) else {known(node.module)} | submodules
    return found - {None}


def import_graph() -> dict:
    modules = module_files()
    return {name: imported_modules(path, modules) - {name} for name, path in modules.items()}


def cycle_from(start: str, graph: dict):
    """A path start -> ... -> start through the graph, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for target in graph[node]:
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_the_graph_sees_imports_at_the_top_and_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import resdeep.errors\nfrom resdeep.models import registry\n\ndef f():\n    from resdeep.engine.train import train\n")
    found = imported_modules(module, module_files())
    assert found == {"resdeep.errors", "resdeep.models.registry", "resdeep.engine.train"}


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and graph["resdeep.cli"], "the walk found the package"
    cycles = [" -> ".join(cycle) for name in sorted(graph) if (cycle := cycle_from(name, graph))]
    assert not cycles, "import circles:\n" + "\n".join(cycles)


# The layers, bottom first: a module imports only from its own layer or the ones below it.
LAYERS = [
    ("resdeep.errors", "resdeep.version", "resdeep.presets", "resdeep.atomic_files", "resdeep.args", "resdeep.launchers"),
    ("resdeep.models",),
    ("resdeep.config",),
    ("resdeep.data",),
    ("resdeep.runs",),  # the run folder: the engine writes it through this package, every command reads it through it
    ("resdeep.compose", "resdeep.engine"),
    ("resdeep.report", "resdeep.analysis", "resdeep.budget"),
    ("resdeep.api",),
    ("resdeep.commands",),
    ("resdeep.cli", "resdeep.__main__", "resdeep"),
]


def layer_of(module: str) -> int:
    """The index of the layer whose package or module holds `module` (the longest matching prefix wins)."""
    matches = [(len(prefix), index) for index, layer in enumerate(LAYERS) for prefix in layer
               if module == prefix or (prefix != "resdeep" and module.startswith(prefix + "."))]  # the package itself: only its __init__
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def test_every_import_goes_to_the_same_layer_or_one_below():
    graph = import_graph()
    assert layer_of("resdeep.runs.state") < layer_of("resdeep.engine.job") < layer_of("resdeep.commands.train")
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("resdeep.somewhere_new")  # a new package must be given its layer
    upward = [f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
              for name, targets in sorted(graph.items()) for target in sorted(targets) if layer_of(target) > layer_of(name)]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)
