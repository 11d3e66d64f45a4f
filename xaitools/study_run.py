"""The study's work loop (see :mod:`xaitools.study`): explain a batch of images with one method, score
every map, commit one row per image and method. Only public API: ``xaitools.explain``,
:mod:`xaitools.metrics`, :mod:`xaitools.road`, ``ImageClassifier.with_model``.

ROAD's imputations (sparse linear solves, one core each) run in ``workers`` worker processes while
the main process scores deletion and insertion with the network; ``workers=0`` does all in-process.
The numbers do not depend on ``workers``: each imputation's noise comes from its own seeded stream.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from xaitools import data, methods, metrics, road
from xaitools.study_base import RANDOM, stream


class _Done:
    """A finished result with a Future's ``result()``: the in-process stand-in for a worker."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _quiet_worker() -> None:  # Ctrl-C stops the study in the main process; workers just end with it
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Runner:
    def __init__(self, clf, settings, store, paths, hashes, workers=0):
        self.clf, self.s, self.store, self.paths, self.hashes = clf, settings, store, paths, hashes
        self.workers = int(workers)
        self._pool = None
        self.added = 0
        self._randomized = None
        self._noise = road.noise_for(clf, settings["road_noise"])
        self.sanity = {p.name for p in paths[: settings["sanity_images"]]}
        self._warm: set = set()
        self.timing = {"explain": 0.0, "deletion_insertion": 0.0, "road": 0.0, "randomization": 0.0, "other": 0.0}

    def _clock(self, key, t0) -> float:
        now = time.perf_counter()
        self.timing[key] += now - t0
        return now

    # -- pieces -----------------------------------------------------------------------------------
    def randomized(self):
        """The fully randomized model (every weighted layer re-initialised, seeded), built once."""
        if self._randomized is None:
            k = len(metrics.weighted_layers(self.clf.model))
            km = metrics.randomize_top_layers(self.clf.model, k, seed=self.s["seed"])
            self._randomized = self.clf.with_model(km)
        return self._randomized

    def explain(self, clf, images, method, classes, **override):
        from xaitools import api

        opts = dict(self.s["options"][method]) | override
        return api.explain(clf, list(images), method, classes=[int(c) for c in classes],
                           batch_size=len(images), **opts)

    def road_images(self, name, method, image, heatmap):
        """ROAD's perturbed images of one map: computed by a worker (a Future) or here."""
        args = (image, heatmap, self.s["road_percentiles"], self._noise, stream(self.s["seed"], name, method, "road"))
        if self._pool is None:
            return _Done(road.perturbed(*args))
        return self._pool.submit(road.perturbed, *args)

    def scores(self, image, cls, heatmap, perturbed, ends) -> dict:
        """Deletion and insertion here, then ROAD from ``perturbed`` (see :meth:`road_images`).
        ``ends``: the class's probability on the image and on its baseline (the same for every map)."""
        predict = self.clf.predict_resized
        kw = dict(steps=self.s["steps"], baseline=self.s["baseline"], ends=ends)
        t = time.perf_counter()
        out = {"deletion": metrics.deletion(image, predict, cls, heatmap, **kw).auc,
               "insertion": metrics.insertion(image, predict, cls, heatmap, **kw).auc}
        t = self._clock("deletion_insertion", t)
        r = road.score(perturbed.result(), predict, cls, self.s["road_percentiles"], before=ends[0])
        self._clock("road", t)
        return out | {"road_morf": r.morf, "road_lerf": r.lerf}

    def rand_rho(self, method, images, classes, maps) -> list[float]:
        """Per image: |Spearman rho| trained vs randomized model, averaged over seeds (seeded methods)."""
        opts = self.s["options"][method]
        seeds = [opts["seed"] + j for j in range(self.s["sanity_seeds"])] if "seed" in opts else [None]
        rhos = np.zeros((len(seeds), len(images)))
        for j, sd in enumerate(seeds):
            over = {} if sd is None else {"seed": sd}
            trained = maps if j == 0 else [r.map for r in self.explain(self.clf, images, method, classes, **over)]
            rand = [r.map for r in self.explain(self.randomized(), images, method, classes, **over)]
            rhos[j] = [abs(metrics.compare_maps(a, b)[0]) for a, b in zip(trained, rand)]
        return list(rhos.mean(axis=0))

    # -- the loop ---------------------------------------------------------------------------------
    def go(self, progress=True) -> int:
        done = self.store.done()
        names = [RANDOM] + self.s["methods"]
        todo = [(p, m) for p in self.paths for m in names if (p.name, m) not in done]
        bar = None
        if self.workers > 0 and todo:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                             initializer=_quiet_worker)
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), file=sys.stderr, unit="map", desc="study", smoothing=0.05)
        finish = None
        try:
            bs = self.s["batch_size"]
            for start in range(0, len(self.paths), bs):
                chunk = self.paths[start : start + bs]
                pending = {m: [p for p in chunk if (p.name, m) not in done] for m in names}
                if not any(pending.values()):
                    continue
                images = {p.name: self.clf.resize(data.load_image(p))[0] for p in chunk}
                probs = self.clf.predict_resized(np.stack([images[p.name] for p in chunk]))
                top = {p.name: int(np.argmax(pr)) for p, pr in zip(chunk, probs)}
                # every curve of an image starts or ends at the image and at its baseline: scored once
                bases = self.clf.predict_resized(np.stack([metrics.make_baseline(images[p.name], self.s["baseline"])
                                                           for p in chunk]))
                ends = {p.name: (float(pr[top[p.name]]), float(b[top[p.name]])) for p, pr, b in zip(chunk, probs, bases)}
                for p, pr in zip(chunk, probs):
                    self.store.db.execute(
                        "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?, ?, ?)",
                        (p.name, self.hashes[p.name], self.paths.index(p), top[p.name],
                         _class_name(self.clf, top[p.name]), float(pr[top[p.name]])))
                self.store.db.commit()
                for m in names:
                    if pending[m]:
                        # one method behind: its maps' ROAD imputations run in the workers while the next
                        # method explains (the network keeps both cores busy, the workers fill the gaps)
                        finish, behind = self.batch(m, pending[m], images, top, ends), finish
                        self._finish(behind, bar)
                last, finish = finish, None  # (if scoring it fails, it is not scored again below)
                self._finish(last, bar)  # a batch's rows are all in before the next batch
        except BaseException:  # a crash or Ctrl-C: the maps already made are scored and kept first
            if finish is not None:
                try:
                    self._finish(finish, bar)
                except Exception:  # noqa: BLE001 -- the first error is the one to report
                    pass
            raise
        finally:
            if bar is not None:
                bar.close()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        return self.added

    @staticmethod
    def _finish(finish, bar) -> None:
        if finish is not None:
            added = finish()
            if bar is not None:
                bar.update(added)

    def batch(self, method, paths, images, top, ends):
        """Explain ``paths`` with ``method``, run the randomization check and hand ROAD's imputations to
        the workers; returns the function that scores the maps and commits their rows (its count)."""
        ims = [images[p.name] for p in paths]
        cls = [top[p.name] for p in paths]
        if method == RANDOM:
            maps = [stream(self.s["seed"], p.name, RANDOM).random(im.shape[:2]).astype(np.float32)
                    for p, im in zip(paths, ims)]
            seconds = [float("nan")] * len(paths)  # no method to time
        else:
            t0 = time.perf_counter()
            if method not in self._warm:  # one-off compilation is not timed. The compiled functions
                # are traced for the first batch size and, at the second, for any batch size: so one
                # image, then two (three images explained once more per method and run)
                for n in (1, 2)[: len(ims)]:
                    self.explain(self.clf, ims[:n], method, cls[:n])
                self._warm.add(method)
            t0 = self._clock("other", t0)
            maps = [r.map for r in self.explain(self.clf, ims, method, cls)]
            seconds = [(time.perf_counter() - t0) / len(paths)] * len(paths)
            self._clock("explain", t0)
        rho = [float("nan")] * len(paths)
        sane = [i for i, p in enumerate(paths) if p.name in self.sanity]
        if method != RANDOM and sane:
            t0 = time.perf_counter()
            got = self.rand_rho(method, [ims[i] for i in sane], [cls[i] for i in sane], [maps[i] for i in sane])
            self._clock("randomization", t0)
            for i, r in zip(sane, got):
                rho[i] = float(r)
        road_jobs = [self.road_images(p.name, method, im, m) for p, im, m in zip(paths, ims, maps)]

        def finish() -> int:
            for p, im, c, m, sec, r, job in zip(paths, ims, cls, maps, seconds, rho, road_jobs):
                row = {"image": p.name, "method": method, "class_index": c, "probability": ends[p.name][0]}
                row |= self.scores(im, c, m, job, ends[p.name])
                row |= {"seconds": sec, "rand_rho": r, "finished": time.time()}
                self.store.add_row(row)
                self.added += 1
            return len(paths)

        return finish


def _class_name(clf, i: int) -> str:
    try:
        return list(clf.class_names)[i]
    except (TypeError, AttributeError, IndexError):
        return str(i)


__all__ = ["Runner"]
