"""Mutation testing for every xaitools module: plant one change at a time, run the unit tests that
reach it, and list the mutants no test kills (the survivors).

    .venv/bin/python tools/mutate.py [--modules lime saliency ...] [--max 15] [--seed 0] [--timeout 300]

Safe: the mutants are written into a separate git worktree of HEAD (``/tmp/xaitools-mutate-<sha>``),
never into the working tree; each file is restored after its mutant's run and the worktree is removed
at the end (``--keep`` keeps it).

1. Coverage, once per commit (cached in the worktree's parent folder): the unit tests of the modules
   (``TESTS``, no notebooks) run under ``coverage`` with one context per test, which maps every line to
   the tests that execute it, plus each test's duration.
2. Mutants: the ``ast`` of each module's functions is walked for mutation sites -- comparison operators
   flipped (``<`` / ``<=``, ``==`` / ``!=``, ...), integer constants +1 / -1 (``axis=`` ones labelled
   "axis"), an axis dropped from an ``axis=(..)`` tuple, min / max swapped (also ``minimum``/``maximum``,
   ``argmin``/``argmax``), ``+`` / ``-`` and ``*`` / ``/`` swapped, ``True`` / ``False`` and ``and`` /
   ``or`` flipped, a ``not`` or a unary minus removed, one statement of a function body replaced by
   ``pass``. ``--max`` sites per module are sampled (seeded); a mutant's source is ``ast.unparse`` of the
   changed tree.
3. Each mutant runs only the tests that cover its line (or up to 4 lines above it in the same function),
   fastest first, with ``-x`` and a timeout. A line coverage does not see (the body of a ``tf.function``:
   autograph runs a converted copy) runs the module's test files (``MODULE_TESTS``); "uncovered" is left
   for modules without tests. A mutant that the covering tests do not kill then runs the module's test
   files too (unless ``--covering-only``): they may reach the line where coverage does not look, e.g.
   ``python -m xaitools`` in a subprocess. The JSON says which run killed it (``killed_by``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# every xaitools module ("core/scores" is xaitools/core/scores.py), with the test files that reach it
MODULE_TESTS = {
    "core/checks": ("tests/test_saliency.py", "tests/test_lime.py", "tests/test_models.py"),
    "core/graph": ("tests/test_cam.py", "tests/test_load_model.py", "tests/test_saliency.py"),
    "core/scores": ("tests/test_saliency.py", "tests/test_perturbation.py"),
    "core/maps": ("tests/test_saliency.py", "tests/test_metrics.py", "tests/test_known_answers.py"),
    "core/cam": ("tests/test_cam.py", "tests/test_gradcam.py", "tests/test_cams.py"),
    "core/superposition": ("tests/test_lime.py",),
    "classifier": ("tests/test_models.py",), "custom": ("tests/test_load_model.py",),
    "zoo": ("tests/test_zoo.py", "tests/test_models.py"),  # test_models: the dog model's scaling (in a tf.function)
    "models": ("tests/test_models.py",), "data": ("tests/test_data.py", "tests/test_data_cats_dogs.py"),
    "lime": ("tests/test_lime.py", "tests/test_lime_known.py"), "saliency": ("tests/test_saliency.py",),
    "cam": ("tests/test_cam.py", "tests/test_camlogger.py"), "gradcam": ("tests/test_gradcam.py",),
    "cams": ("tests/test_cams.py",), "perturbation": ("tests/test_perturbation.py",),
    "metrics": ("tests/test_metrics.py", "tests/test_study_reproduce.py"), "viz": ("tests/test_viz.py",), "regions": ("tests/test_regions.py",),
    "registry": ("tests/test_api.py", "tests/test_known_answers.py"),
    "methods": ("tests/test_api.py", "tests/test_known_answers.py"),
    "api": ("tests/test_api.py", "tests/test_known_answers.py"),
    "cli": ("tests/test_cli.py",), "cli_checks": ("tests/test_cli.py",),
    "book": ("tests/test_book.py",),
    # old names that only re-export (no function body, so no mutation site): the tests that import them
    "cam_training": ("tests/test_cam.py",), "superposition": ("tests/test_lime.py",),
    # test_study_reproduce: a few images of the committed study, every number compared
    "road": ("tests/test_study.py", "tests/test_study_reproduce.py"), "study": ("tests/test_study.py",),
    "study_base": ("tests/test_study.py",), "study_stats": ("tests/test_study.py",),
    "study_run": ("tests/test_study.py", "tests/test_study_reproduce.py"),
    "study_cli": ("tests/test_study.py",),  # reached through `python -m xaitools study` (a subprocess)
    "__main__": ("tests/test_cli.py", "tests/test_study.py"),  # `python -m xaitools` in a subprocess
    "__init__": ("tests/test_api.py", "tests/test_cam.py", "tests/test_known_answers.py"),
}
MODULES = tuple(MODULE_TESTS)
TESTS = tuple(sorted({Path(t).name for files in MODULE_TESTS.values() for t in files}))
SWAP_NAMES = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum", "argmin": "argmax",
              "argmax": "argmin", "amin": "amax", "amax": "amin", "nanmin": "nanmax", "nanmax": "nanmin"}
CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
       ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


# -- pytest plugin part (loaded with -p mutate): one coverage context and a duration per test --------
_DURATIONS: dict[str, float] = {}


def pytest_runtest_setup(item):
    try:
        import coverage
    except ImportError:
        return
    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(item.nodeid)


def pytest_runtest_logreport(report):
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    path = os.environ.get("MUTATE_DURATIONS")
    if path:
        Path(path).write_text(json.dumps(_DURATIONS))


# -- mutation sites ----------------------------------------------------------------------------------
def _function_nodes(tree):
    """Every node inside a function body (module-level constants and docstrings are left alone)."""
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in fn.body:
                yield from ast.walk(stmt)


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def sites(tree) -> list[tuple]:
    """(kind, line, description, apply) for every mutation site, in a fixed order; ``apply`` changes the tree."""
    out, seen = [], set()
    axis_consts = set()
    for node in _function_nodes(tree):  # messages: what an exception or an f-string says is not mutated
        if isinstance(node, ast.Raise) and node.exc is not None:
            seen.update(id(n) for n in ast.walk(node.exc))
        elif isinstance(node, ast.JoinedStr):
            seen.update(id(n) for n in ast.walk(node))
    for node in _function_nodes(tree):
        if id(node) in seen:  # nested functions are walked twice
            continue
        seen.add(id(node))
        if isinstance(node, ast.keyword) and node.arg == "axis":
            if isinstance(node.value, ast.Constant):
                axis_consts.add(id(node.value))
            elif isinstance(node.value, ast.Tuple) and len(node.value.elts) > 1:
                out.append(("axis", node.value.lineno, "drop the last axis of the tuple",
                            lambda n=node: n.value.elts.pop()))
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMP:
                    new = CMP[type(op)]
                    out.append(("compare", node.lineno, f"{SYMBOL[type(op)]} -> {SYMBOL[new]}",
                                lambda n=node, i=i, new=new: n.ops.__setitem__(i, new())))
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP:
            new = BINOP[type(node.op)]
            out.append(("binop", node.lineno, f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}",
                        lambda n=node, new=new: setattr(n, "op", new())))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            out.append(("boolop", node.lineno, f"{type(node.op).__name__.lower()} -> {new.__name__.lower()}",
                        lambda n=node, new=new: setattr(n, "op", new())))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            what = "not" if isinstance(node.op, ast.Not) else "unary -"
            out.append(("unary", node.lineno, f"remove {what}",
                        lambda n=node: setattr(n, "op", ast.UAdd()) if isinstance(n.op, ast.USub) else _remove_not(n)))
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                out.append(("bool", node.lineno, f"{v} -> {not v}", lambda n=node: setattr(n, "value", not n.value)))
            elif isinstance(v, int):
                kind = "axis" if id(node) in axis_consts else "int"
                for d in (1, -1):
                    out.append((kind, node.lineno, f"{v} -> {v + d}", lambda n=node, d=d: setattr(n, "value", n.value + d)))
            elif isinstance(v, float):
                new = v * 2 if v else 1.0
                out.append(("float", node.lineno, f"{v} -> {new}", lambda n=node, new=new: setattr(n, "value", new)))
        elif isinstance(node, ast.Name) and node.id in SWAP_NAMES:
            out.append(("minmax", node.lineno, f"{node.id} -> {SWAP_NAMES[node.id]}",
                        lambda n=node: setattr(n, "id", SWAP_NAMES[n.id])))
        elif isinstance(node, ast.Attribute) and node.attr in SWAP_NAMES:
            out.append(("minmax", node.lineno, f".{node.attr} -> .{SWAP_NAMES[node.attr]}",
                        lambda n=node: setattr(n, "attr", SWAP_NAMES[n.attr])))
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list) or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for i, stmt in enumerate(stmts):
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For, ast.Raise,
                                     ast.With, ast.Return)) and not _is_docstring(stmt):
                    out.append(("drop", stmt.lineno, f"drop `{ast.unparse(stmt).splitlines()[0][:60]}`",
                                lambda s=stmts, i=i: s.__setitem__(i, ast.copy_location(ast.Pass(), s[i]))))
    # the statements directly in function bodies
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = fn.body
            for i, stmt in enumerate(body):
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For, ast.Raise,
                                     ast.With, ast.Return)) and not _is_docstring(stmt):
                    out.append(("drop", stmt.lineno, f"drop `{ast.unparse(stmt).splitlines()[0][:60]}`",
                                lambda s=body, i=i: s.__setitem__(i, ast.copy_location(ast.Pass(), s[i]))))
    return out


def _function_start(tree, line: int) -> int:
    """The ``def`` line of the innermost function around ``line`` (0 if none)."""
    start = 0
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.lineno <= line <= fn.end_lineno:
            start = max(start, fn.lineno)
    return start


def _remove_not(node):
    """``not x`` -> ``not (not x)``, i.e. ``bool(x)``: the ``not`` removed without a parent pointer."""
    node.op = ast.Not()
    node.operand = ast.UnaryOp(ast.Not(), node.operand)  # not (not x) == bool(x): the `not` is gone


def mutant_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    sites(tree)[index][3]()
    return ast.unparse(ast.fix_missing_locations(tree))


# -- running -------------------------------------------------------------------------------------------
def run_pytest(work: Path, args, timeout: float, env_extra=None, coverage_file=None) -> tuple[int, float]:
    env = dict(os.environ, PYTHONPATH=f"{work}{os.pathsep}{work / 'tools'}", PYTHONDONTWRITEBYTECODE="1",
               XAITOOLS_MIRROR=os.environ.get("XAITOOLS_MIRROR", str(ROOT.parent / "shared" / "offline-mirror")))
    env.update(env_extra or {})
    cmd = [sys.executable]
    if coverage_file:
        include = ",".join(str(work / "xaitools" / f"{m}.py") for m in MODULES)
        cmd += ["-m", "coverage", "run", f"--data-file={coverage_file}", f"--include={include}"]
    cmd += ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutate", *args]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, time.perf_counter() - t
    except subprocess.TimeoutExpired:
        return -1, time.perf_counter() - t


def coverage_map(work: Path, cache: Path, timeout: float, modules=MODULES) -> tuple[dict, dict]:
    """{module: {line: [nodeids]}}, {nodeid: seconds} for the unmutated worktree, from the test files of
    ``modules`` (cached per commit and set of test files)."""
    names = sorted({Path(t).name for m in modules for t in MODULE_TESTS[m]})
    if set(names) != set(TESTS):  # a part of the test files: its own cache
        import hashlib

        cache = cache.with_name(cache.stem + "-" + hashlib.sha1(" ".join(names).encode()).hexdigest()[:8] + ".json")
    if cache.exists():
        data = json.loads(cache.read_text())
        return {m: {int(k): v for k, v in lines.items()} for m, lines in data["lines"].items()}, data["durations"]
    import coverage

    tests = [f"tests/{t}" for t in names if (work / "tests" / t).exists()]
    data_file = work / ".coverage.mutate"
    durations_file = work / ".durations.json"
    print(f"coverage run of {len(tests)} test files (once per commit) ...", flush=True)
    rc, seconds = run_pytest(work, tests, timeout * 10, {"MUTATE_DURATIONS": str(durations_file)}, coverage_file=data_file)
    if rc != 0:
        raise SystemExit(f"the unit tests fail on the unmutated commit (pytest exit {rc}); fix them first")
    print(f"  {seconds:.0f} s", flush=True)
    cov = coverage.CoverageData(basename=str(data_file))
    cov.read()
    lines = {}
    for m in MODULES:
        path = str(work / "xaitools" / f"{m}.py")
        by_line = cov.contexts_by_lineno(path) if path in cov.measured_files() else {}
        lines[m] = {int(k): sorted(c for c in v if c) for k, v in by_line.items()}
    durations = json.loads(durations_file.read_text())
    cache.write_text(json.dumps({"lines": lines, "durations": durations}))
    return lines, durations


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modules", nargs="+", default=list(MODULES), choices=MODULES)
    p.add_argument("--max", type=int, default=15, help="mutants sampled per module (0: all)")
    p.add_argument("--kinds", nargs="+", default=None, help="only these kinds (compare, int, axis, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300, help="seconds per mutant's test run")
    p.add_argument("--keep", action="store_true", help="keep the worktree")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--commit", default="HEAD", help="the commit to mutate (its coverage map is cached)")
    p.add_argument("--only", nargs="+", default=None, metavar="LINE", type=int, help="only sites on these lines")
    p.add_argument("--match", default=None, metavar="TEXT", help="only sites whose source line contains TEXT")
    p.add_argument("--tests", nargs="+", default=None, metavar="NODEID",
                   help="run these tests for every mutant instead of the covering ones (no coverage map): "
                        "to check that a test written for a survivor kills it")
    p.add_argument("--covering-only", action="store_true",
                   help="a mutant that the covering tests do not kill survives (no run of the module's test files)")
    args = p.parse_args()

    sha = subprocess.run(["git", "rev-parse", args.commit], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    work = Path(tempfile.gettempdir()) / f"xaitools-mutate-{sha[:10]}"
    if not work.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(work), sha], cwd=ROOT, check=True, capture_output=True)
    check = subprocess.run([sys.executable, "-c", "import xaitools; print(xaitools.__file__)"], cwd=work,
                           env=dict(os.environ, PYTHONPATH=str(work)), capture_output=True, text=True)
    if not check.stdout.strip().startswith(str(work)):
        raise SystemExit(f"xaitools would be imported from {check.stdout.strip()}, not from the worktree {work}")
    results = []
    try:
        if args.tests:
            lines, durations = {m: {} for m in MODULES}, {}
        else:
            lines, durations = coverage_map(work, work.parent / f"xaitools-mutate-{sha[:10]}.json", args.timeout,
                                            args.modules)
        rng = random.Random(args.seed)
        for module in args.modules:
            path = work / "xaitools" / f"{module}.py"
            original = path.read_text()
            source_lines = original.splitlines()
            tree = ast.parse(original)
            found = sites(tree)
            chosen = [i for i, s in enumerate(found) if (args.kinds is None or s[0] in args.kinds)
                      and (args.only is None or s[1] in args.only)
                      and (args.match is None or args.match in source_lines[s[1] - 1])]
            if args.max and len(chosen) > args.max:
                chosen = sorted(rng.sample(chosen, args.max))
            print(f"\n{module}.py: {len(found)} mutation sites, running {len(chosen)}", flush=True)
            for i in chosen:
                kind, line, desc = found[i][:3]
                # the line, or up to 4 lines above it in the same function (not the end of the function before)
                stop = max(line - 5, _function_start(tree, line) - 1)
                covering = next((lines[module][ln] for ln in range(line, stop, -1) if lines[module].get(ln)), [])
                from_map = bool(covering)
                if args.tests:
                    covering = list(args.tests)
                elif not covering:  # e.g. a tf.function body: autograph runs a converted copy coverage cannot see
                    covering = [t for t in durations if t.split("::")[0] in MODULE_TESTS[module]]
                tests = sorted(covering, key=lambda t: durations.get(t, 1e9))  # fastest first
                record = {"module": module, "line": line, "kind": kind, "change": desc,
                          "code": source_lines[line - 1].strip()}
                if not tests:
                    record["status"] = "uncovered"
                else:
                    files = [f for f in MODULE_TESTS[module] if (work / f).exists()]
                    try:
                        path.write_text(mutant_source(original, i))
                        rc, seconds = run_pytest(work, ["-x", *tests], args.timeout)
                        record["killed_by"] = "covering tests"
                        if rc == 0 and from_map and files and not args.covering_only:
                            # every covering test passed: the module's own test files too, which may reach the
                            # line where coverage does not look (`python -m xaitools` in a subprocess)
                            rc, more = run_pytest(work, ["-x", *files], args.timeout)
                            seconds += more
                            record["killed_by"] = "module test files"
                    finally:
                        path.write_text(original)
                    record["status"] = {0: "survived", -1: "timeout"}.get(rc, "killed")
                    if record["status"] != "killed":
                        del record["killed_by"]
                    record.update(tests=len(tests), seconds=round(seconds, 1))
                results.append(record)
                print(f"  {record['status']:9s} {module}.py:{line} [{kind}] {desc}   | {record['code'][:70]}", flush=True)
    finally:
        if not args.keep:
            subprocess.run(["git", "worktree", "remove", "--force", str(work)], cwd=ROOT, capture_output=True)
    survivors = [r for r in results if r["status"] in ("survived", "uncovered")]
    killed = sum(r["status"] in ("killed", "timeout") for r in results)
    print(f"\n{killed} of {len(results)} mutants killed; survivors ({len(survivors)}):")
    for r in survivors:
        print(f"  {r['module']}.py:{r['line']} [{r['kind']}] {r['change']} ({r['status']})   | {r['code'][:80]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
