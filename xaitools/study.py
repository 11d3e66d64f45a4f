"""A study: many images, several methods, one model; per-image metrics in a SQLite file.

>>> from xaitools import study
>>> study.run("photos/", "dog_breeds", ["gradcam", "lime"], images=100, out="dogs.sqlite")
>>> s = study.summary("dogs.sqlite")      # means, 95 % bootstrap CIs, paired Wilcoxon tests (Holm)

What is measured, per image and method (:data:`METRICS`), on the image resized once to the model's
input size (every map is computed on, and every perturbation applied to, that grid):

- ``deletion``, ``insertion``: AUC of :func:`xaitools.metrics.deletion` / ``insertion`` (``steps``
  equal chunks, blurred baseline), probability of the target class.
- ``road_morf``, ``road_lerf``: ROAD (:mod:`xaitools.road`, pytorch-grad-cam's definitions, noisy
  linear imputation, averaged over percentiles 10..90).
- ``seconds``: the method's wall time per image (its share of a batch of ``batch_size`` images;
  each method first explains one whole batch untimed, so compilation is not counted; a last, smaller
  batch may be traced again).
- ``rand_rho``: |Spearman rho| between the map of the trained model and the map of the fully
  randomized model (every weighted layer re-initialised, :func:`xaitools.metrics.randomize_top_layers`),
  only for the first ``sanity_images`` images; for methods with a ``seed`` option, the mean over
  ``sanity_seeds`` seeds (seed, seed + 1, ...) of |rho| between maps made with the same seed.

The explained class is **the model's top class for each image** (of the trained model; the
randomized model explains the same class). A ``random`` row per image scores a uniformly random map:
the reference every method should beat.

The file holds the settings and the model's identity (a hash of its weights); a run with another
model or other settings is refused (nothing is mixed). Rows are committed one by one, so an
interrupted run loses no finished row and a rerun continues where it stopped. ``images=N`` takes
the first N images of the folder in sorted order, so a larger N extends a study.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from xaitools import DEFAULT_SEED, methods

from xaitools.study_base import METRICS, RANDOM, StudyError, finite, stream  # noqa: F401  (public here too)
SCHEMA = 1


# -- settings and checks (no TensorFlow) -----------------------------------------------------------
def list_images(folder) -> list[Path]:
    from xaitools.data import IMAGE_SUFFIXES

    p = Path(folder).expanduser()
    if not p.is_dir():
        raise StudyError(f"{folder} is not a folder")
    found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise StudyError(f"folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise StudyError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_settings(method_names, options=None, *, seed=DEFAULT_SEED, steps=20, baseline="blur",
                  percentiles=None, road_noise=None, sanity_images=20, sanity_seeds=3, batch_size=8) -> dict:
    """Everything that changes a row's numbers, checked: a StudyError names the first bad value."""
    from xaitools import road

    names = [m.strip() for m in ([method_names] if isinstance(method_names, str) else method_names)]
    names = [n for part in names for n in part.split(",") if n]
    if not names:
        raise StudyError("no methods given")
    unknown = [n for n in names if n not in methods.METHODS]
    if unknown:
        raise StudyError(f"unknown method {unknown[0]!r}; available: {', '.join(methods.METHODS)}")
    if len(set(names)) != len(names):
        raise StudyError(f"a method is given twice: {', '.join(names)}")
    options = dict(options or {})
    for m in options:
        if m not in names:
            raise StudyError(f"options for {m!r}, which is not among the methods ({', '.join(names)})")
    method_opts = {}
    for n in names:
        given = options.get(n, {})
        for k, v in given.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise StudyError(f"{n}: option {k} must be finite, got {v!r}")
        try:
            method_opts[n] = methods.METHODS[n].check_options(given)
        except ValueError as exc:
            raise StudyError(str(exc)) from None
    if baseline not in ("blur", "zeros"):
        finite("baseline", baseline)
    pct = [finite("ROAD percentile", p) for p in (road.PERCENTILES if percentiles is None else percentiles)]
    if not pct or any(not 0 < p < 100 for p in pct):
        raise StudyError(f"ROAD percentiles must be in (0, 100), got {pct}")
    noise = finite("road_noise", road.NOISE if road_noise is None else road_noise)
    if noise < 0:
        raise StudyError(f"road_noise must be >= 0, got {noise}")
    return {
        "schema": SCHEMA, "methods": names, "options": method_opts, "seed": int(seed),
        "steps": _positive_int("steps", steps), "baseline": baseline, "road_percentiles": pct,
        "road_noise": noise, "sanity_images": int(sanity_images) if sanity_images == 0 else
        _positive_int("sanity_images", sanity_images), "sanity_seeds": _positive_int("sanity_seeds", sanity_seeds),
        "batch_size": _positive_int("batch_size", batch_size),
    }


class Store:
    """The SQLite file: ``meta`` (settings, model, runs), ``images``, ``rows`` (one per image and method)."""

    def __init__(self, path):
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_file():
            raise StudyError(f"--out {path} is not a file")
        if not self.path.parent.is_dir():
            raise StudyError(f"--out {path}: the folder {self.path.parent} does not exist")
        try:
            self.db = sqlite3.connect(self.path)
            self.db.executescript(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS images (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, position INTEGER,"
                " class_index INTEGER, class_name TEXT, probability REAL);"
                "CREATE TABLE IF NOT EXISTS rows (image TEXT NOT NULL, method TEXT NOT NULL, class_index INTEGER,"
                " probability REAL, deletion REAL, insertion REAL, road_morf REAL, road_lerf REAL, seconds REAL,"
                " rand_rho REAL, finished REAL, PRIMARY KEY (image, method));")
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"{path} is not a study file: {exc}") from None

    def get(self, key, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key, value) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def claim(self, key, value, what) -> None:
        """Store ``value`` under ``key``, or refuse if the file already holds another one."""
        old = self.get(key)
        if old is None:
            self.put(key, value)
        elif old != value:
            diff = sorted(k for k in set(old) | set(value) if old.get(k) != value.get(k)) if isinstance(old, dict) else []
            detail = ", ".join(f"{k}: {old.get(k)!r} in the file, {value.get(k)!r} now" for k in diff[:3])
            raise StudyError(f"{self.path} was written with {what} ({detail}); "
                             f"use another --out file, results are not mixed")

    def done(self) -> set[tuple[str, str]]:
        return set(self.db.execute("SELECT image, method FROM rows"))

    def add_row(self, row: dict) -> None:
        cols = ", ".join(row)
        with self.db:  # one transaction per row: committed when it returns
            self.db.execute(f"INSERT OR REPLACE INTO rows ({cols}) VALUES ({', '.join('?' * len(row))})",
                            [None if isinstance(v, float) and math.isnan(v) else v for v in row.values()])

    def rows(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM rows ORDER BY image, method")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_identity(clf) -> dict:
    """What makes two models the same: a hash of every weight, the input size and the classes."""
    h = hashlib.sha256()
    for w in clf.model.get_weights():
        h.update(str(w.shape).encode())
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    try:
        names = list(clf.class_names)
    except (TypeError, AttributeError):
        names = None
    # the input scaling: the network's input for a black and a white image (exact, no network involved)
    ends = clf.preprocess(np.stack([np.zeros((*clf.input_size, 3), np.float32), np.ones((*clf.input_size, 3), np.float32)]))
    return {"name": clf.name, "weights_sha256": h.hexdigest(), "input_size": list(clf.input_size),
            "classes": names, "scaling": [[round(float(v), 6) for v in e[0, 0]] for e in ends]}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("xaitools", "tensorflow", "tensorflow-cpu", "keras", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# -- the run -----------------------------------------------------------------------------------------
def prepare(folder, methods_, images, out, options=None, model_spec=None, **settings):
    """Every check that needs no TensorFlow: -> (settings, image paths, store). Raises StudyError."""
    paths = list_images(folder)[: _positive_int("images", images)]
    sett = make_settings(methods_, options, **settings)
    store = Store(out)
    if not store.done() and store.get("model") is None:
        store.put("settings", sett)  # nothing computed yet (e.g. a run that failed to load its model)
    store.claim("settings", sett, "other settings")
    if model_spec is not None:
        store.claim("model_spec", {"spec": model_spec}, "another model")
    return sett, paths, store


def run(folder, model, methods, images=100, out="study.sqlite", seed=DEFAULT_SEED, *, options=None,
        preprocess=None, class_names=None, steps=20, baseline="blur", percentiles=None, road_noise=None,
        sanity_images=20, sanity_seeds=3, batch_size=8, progress=True, command=None, workers=0) -> Path:
    """Run (or continue) a study; returns the store's path. See the module docstring.

    Args:
        folder: a folder of images (the first ``images`` in sorted order are used).
        model: a built-in name, a ``.keras``/``.h5`` path (with ``preprocess``), a keras.Model or an
            ImageClassifier.
        methods: names in :data:`xaitools.methods.METHODS` (a list or "a,b,c").
        options: method -> its options, e.g. ``{"lime": {"samples": 50}}`` (defaults otherwise).
        out: the SQLite file (created, or continued if its settings and model match).
        seed: seeds the random reference maps, the ROAD noise and the randomized model.
        workers: worker processes for ROAD's imputations (0: in this process); the numbers do not
            depend on it, the wall time does (``python -m xaitools study`` uses 2).
    """
    spec = model if isinstance(model, (str, os.PathLike)) else None
    spec = Path(spec).name if spec is not None and Path(spec).suffix else spec
    sett, paths, store = prepare(folder, methods, images, out, options, spec, seed=seed, steps=steps,
                                 baseline=baseline, percentiles=percentiles, road_noise=road_noise,
                                 sanity_images=sanity_images, sanity_seeds=sanity_seeds, batch_size=batch_size)
    names = {p.name: p for p in paths}
    if len(names) != len(paths):
        raise StudyError("two images in the folder share a file name")
    hashes = {p.name: _sha256(p) for p in paths}
    stored = dict(store.db.execute("SELECT name, sha256 FROM images"))
    for name, digest in stored.items():
        if name in hashes and hashes[name] != digest:
            raise StudyError(f"{name} differs from the image of that name in {out}; results are not mixed")
    if stored and not set(stored) & set(hashes):
        raise StudyError(f"{out} holds other images than the folder {folder}; results are not mixed")

    from xaitools import api
    from xaitools.study_run import Runner

    clf = api.as_classifier(model, preprocess, class_names)
    store.claim("model", model_identity(clf), "another model")
    started, cpu0 = time.time(), _cpu_seconds()
    runner = Runner(clf, sett, store, paths, hashes, workers=workers)
    try:
        runner.go(progress)
    finally:
        runs = store.get("runs", [])
        runs.append({"command": command, "started": started, "wall_seconds": round(time.time() - started, 1),
                     "cpu_seconds": round(_cpu_seconds() - cpu0, 1),
                     "rows_added": runner.added, "images": len(paths), "workers": workers, "versions": versions(),
                     "seconds_by_part": {k: round(v, 1) for k, v in runner.timing.items()}})
        store.put("runs", runs)
    return Path(store.path)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ROAD's workers), all threads."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def summary(path, **kwargs):
    """:func:`xaitools.study_stats.summarize` of a study file (means, CIs, paired tests)."""
    from xaitools.study_stats import summarize

    p = Path(path).expanduser()
    if not p.is_file():
        raise StudyError(f"{path}: no such study file")
    store = Store(p)
    sett = store.get("settings")
    if sett is None:
        raise StudyError(f"{path} is not a study file (no settings)")
    return summarize(store.rows(), [RANDOM] + sett["methods"], meta={
        "settings": sett, "model": store.get("model"), "runs": store.get("runs", [])}, **kwargs)


__all__ = ["METRICS", "RANDOM", "StudyError", "list_images", "make_settings", "Store", "model_identity",
           "prepare", "run", "summary"]
