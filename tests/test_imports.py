"""The package's import graph, read from the source (ast): no cycles, no import up the layers, no
private names taken from another module, no module over 350 lines.

The layers, bottom to top (a module may import its own layer's modules or lower ones, never higher):

0. foundations: data, viz, regions (no xaitools imports but each other)
1. core: xaitools.core.* (the score functions, checks, maps, compiled passes, graph walking)
2. models: classifier, zoo, custom, models (the ImageClassifier and how models are loaded); book
   (the chapters' claim checks, which read the model setting as zoo does)
3. methods: lime, saliency, cam, cam_training, gradcam, cams, perturbation, metrics, superposition
   -- a method module imports only layers 0-2, never another method module (cam_training and
   superposition are old names that re-export cam and core.superposition)
4. registry: registry, methods (the method registry; its "module:attribute" targets count as imports)
5. api; 6. the study over many images: study_base, study_stats, study_run, study (road, its ROAD
   metric, is a layer-3 module); 7. cli_checks; 8. cli, study_cli, __main__; the package face __init__
   imports nothing at import time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xaitools"
LAYERS = {
    0: {"data", "viz", "regions", "__init__"},
    1: {"core"},
    2: {"classifier", "zoo", "custom", "models", "book"},
    3: {"lime", "saliency", "cam", "gradcam", "cams", "perturbation", "metrics", "road"},
    4: {"registry", "methods"},
    5: {"api"},
    6: {"study_base", "study_stats", "study_run", "study"},
    7: {"cli_checks"},
    8: {"cli", "study_cli", "__main__"},
}
# old module names that only re-export (they may import the module whose names they keep)
FACES = {"cam_training": "cam", "superposition": "core"}
MAX_LINES = 350
TARGET = re.compile(r"^(xaitools(?:\.\w+)+):\w+$")  # the registry's lazy "module:attribute" targets


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    top = FACES.get(top, top)
    for level, names in LAYERS.items():
        if top in names:
            return level
    raise AssertionError(f"{module} is in no layer; add it to LAYERS in tests/test_imports.py")


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import in the file, also inside functions."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("xaitools")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            if not base.startswith("xaitools"):
                continue
            for a in node.names:  # `from xaitools import data` imports the module xaitools.data
                sub = f"{base}.{a.name}"
                if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() or (PACKAGE.parent / sub.replace(".", "/")).is_dir():
                    out.append((sub, []))
                else:
                    out.append((base, [a.name]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value):
            out.append((node.value.split(":")[0], []))
    return out


def graph() -> dict[str, list[tuple[str, list[str]]]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_layer_and_short():
    for path in sorted(PACKAGE.rglob("*.py")):
        layer_of(module_name(path))
        n = len(path.read_text(encoding="utf-8").splitlines())
        assert n <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {n} lines (at most {MAX_LINES})"


def test_no_import_goes_up_the_layers_and_methods_stay_apart():
    bad = []
    for module, deps in graph().items():
        if module == "xaitools":
            continue
        for dep, _ in deps:
            if dep == "xaitools":
                continue
            top_m, top_d = module.split(".")[1], dep.split(".")[1]
            if FACES.get(top_m) == top_d or FACES.get(top_m) == dep.split(".", 1)[1]:
                continue  # an old module name re-exporting its new home
            if layer_of(dep) > layer_of(module):
                bad.append(f"{module} (layer {layer_of(module)}) imports {dep} (layer {layer_of(dep)})")
            elif layer_of(module) == 3 and layer_of(dep) == 3 and top_m != top_d:
                bad.append(f"method module {module} imports method module {dep}")
    assert not bad, "\n".join(bad)


def test_the_package_face_imports_nothing():
    assert [d for d, _ in graph()["xaitools"]] == ["xaitools.api", "xaitools.models"] or not graph()["xaitools"]


def test_no_private_names_across_modules():
    bad = [f"{m} takes {n} from {d}" for m, deps in graph().items() for d, names in deps for n in names
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


def test_no_cycles():
    edges = {m: {d for d, _ in deps if d != m and d != "xaitools"} for m, deps in graph().items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_keras_internals_only_in_core_graph():
    internal = re.compile(r"\._keras_history|\._inbound_nodes|\._run_through_graph|[.\x27\"]_functional\b")
    users = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py") if internal.search(p.read_text(encoding="utf-8"))]
    assert users == ["xaitools/core/graph.py"], users


def test_no_cache_is_set_on_a_users_model():
    users = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py") if "object.__setattr__" in p.read_text(encoding="utf-8")]
    assert not users, users
