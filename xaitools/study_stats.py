"""A study's statistics (see :mod:`xaitools.study`): means with 95 % bootstrap confidence intervals and
paired comparisons between methods on the same images.

- :func:`mean_ci`: the mean and its 95 % bootstrap CI (``scipy.stats.bootstrap``, BCa, seeded).
- :func:`paired`: for one metric, every pair of methods on the images both have: the median paired
  difference, the two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``) and the p-value
  after Holm's correction over all pairs of that metric (family-wise error at ``alpha``).
- :func:`summarize`: both for every method and metric -> a :class:`Summary` (data for code to
  assert on) whose ``str()`` is the printed table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

RANDOM_NAME = "random"  # the study's reference row (xaitools.study_base.RANDOM)
# which way is better, and the metric's description
BETTER = {"deletion": "lower", "insertion": "higher", "road_morf": "lower", "road_lerf": "higher",
          "seconds": "lower", "rand_rho": "lower"}
LABELS = {"deletion": "deletion AUC", "insertion": "insertion AUC", "road_morf": "ROAD MoRF (dp)",
          "road_lerf": "ROAD LeRF (dp)", "seconds": "seconds/image", "rand_rho": "|rho| randomized"}


def mean_ci(values, confidence=0.95, n_resamples=2000, seed=0) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its bootstrap CI (BCa; percentile if BCa is undefined).
    One value or identical values: the CI is the mean itself; no values: NaNs."""
    from scipy.stats import bootstrap

    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(x.mean())
    if x.size == 1 or np.ptp(x) == 0:
        return m, m, m
    rng = np.random.default_rng(seed)
    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="BCa", rng=rng)
    lo, hi = res.confidence_interval
    if not (np.isfinite(lo) and np.isfinite(hi)):
        res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
    return m, float(lo), float(hi)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    adj = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


@dataclass
class Comparison:
    metric: str
    a: str
    b: str
    n: int  # images with both values
    median_diff: float  # median of a - b
    p: float  # Wilcoxon signed-rank, two-sided
    p_holm: float = float("nan")
    significant: bool = False
    better: str | None = None  # the better of the two when significant


def wilcoxon_p(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired a, b; 1.0 when every difference is zero."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.size == 0 or np.all(d == 0):
        return 1.0
    return float(wilcoxon(d).pvalue)


def paired(table: dict[str, dict[str, float]], metric: str, alpha=0.05) -> list[Comparison]:
    """``table``: method -> {image: value}. Every pair of methods, Holm-corrected over the pairs."""
    out = []
    for a, b in combinations(table, 2):
        common = sorted(set(table[a]) & set(table[b]))
        x = np.array([table[a][k] for k in common])
        y = np.array([table[b][k] for k in common])
        if len(common) < 2:
            continue
        out.append(Comparison(metric, a, b, len(common), float(np.median(x - y)), wilcoxon_p(x, y)))
    for c, adj in zip(out, holm([c.p for c in out]) if out else []):
        c.p_holm = float(adj)
        c.significant = bool(adj < alpha)
        if c.significant:
            a_better = (c.median_diff < 0) == (BETTER[metric] == "lower")
            c.better = c.a if a_better else c.b
    return out


@dataclass
class Summary:
    """Per method and metric: ``means[(method, metric)] = (mean, low, high, n)``; ``comparisons``:
    every :class:`Comparison`; ``meta``: settings, model and runs from the file."""

    methods: list[str]
    metrics: list[str]
    means: dict = field(default_factory=dict)
    comparisons: list = field(default_factory=list)
    alpha: float = 0.05
    meta: dict = field(default_factory=dict)

    def not_significant(self, metric=None) -> list[Comparison]:
        return [c for c in self.comparisons if not c.significant and metric in (None, c.metric)]

    def compare(self, a, b, metric) -> Comparison:
        """The paired comparison of methods ``a`` and ``b`` on ``metric`` (in either order)."""
        for c in self.comparisons:
            if c.metric == metric and {c.a, c.b} == {a, b}:
                return c
        raise KeyError(f"no comparison of {a} and {b} on {metric}")

    def best(self, metric, among=None) -> list[str]:
        """The method with the best mean and every method not significantly different from it
        (``among``: only these methods are candidates; the tests stay those of the whole study)."""
        sign = 1 if BETTER[metric] == "lower" else -1
        have = [m for m in self.methods if np.isfinite(self.means[(m, metric)][0]) and (among is None or m in among)]
        if not have:
            return []
        top = min(have, key=lambda m: sign * self.means[(m, metric)][0])
        tied = {c.b if c.a == top else c.a for c in self.not_significant(metric) if top in (c.a, c.b)}
        return [top] + [m for m in have if m in tied]

    def describe(self, width=76) -> str:
        """Where the numbers come from: model, images, target, seeds and the run(s) that made them,
        in lines of at most ``width`` characters."""
        import datetime

        sett, model, runs = self.meta.get("settings") or {}, self.meta.get("model") or {}, self.meta.get("runs") or []
        n_img = max((v[3] for v in self.means.values()), default=0)
        lines = [(f"model {model.get('name', '?')} ({len(model.get('classes') or [])} classes), " if model else "")
                 + f"{n_img} images" + (f", each explained for the model's top class; seed {sett.get('seed')}"
                                        if sett else "")]
        if sett:  # rows from a study file; rows given by hand have no settings to report
            lines.append(f"deletion/insertion: {sett.get('steps')} steps, {sett.get('baseline')} baseline; ROAD at "
                         f"percentiles {', '.join(f'{p:g}' for p in sett.get('road_percentiles', []))}; randomization "
                         f"on the first {sett.get('sanity_images')} images ({sett.get('sanity_seeds')} seeds for "
                         "seeded methods)")
        wall = sum(r.get("wall_seconds", 0) for r in runs)
        if runs:
            day = datetime.datetime.fromtimestamp(runs[0]["started"], datetime.timezone.utc).strftime("%Y-%m-%d")
            v = runs[-1].get("versions", {})
            tf = v.get("tensorflow") or v.get("tensorflow-cpu")
            cpu = (f" ({sum(r['cpu_seconds'] for r in runs) / 60:.0f} min CPU)"
                   if all("cpu_seconds" in r for r in runs) else "")
            lines.append(f"run {day}, {wall / 60:.0f} min wall{cpu} in {len(runs)} run(s); xaitools {v.get('xaitools')}, "
                         f"TensorFlow {tf}, Keras {v.get('keras')}")
        import textwrap

        return "\n".join(textwrap.fill(line, width, subsequent_indent="  ") for line in lines)

    def verdicts(self, metric, methods=None, width=76) -> str:
        """The paired comparisons of one metric in words: the best group, who beats the random
        reference, and the pairs that do not differ significantly (Holm-corrected)."""
        methods = [m for m in (methods or self.methods) if m in self.methods]
        best = self.best(metric, among=methods)
        ref = RANDOM_NAME if RANDOM_NAME in methods and np.isfinite(self.means[(RANDOM_NAME, metric)][0]) else None
        lines = [f"{LABELS[metric]} ({BETTER[metric]} is better): best {best[0] if best else '-'}"
                 + (f"; not significantly different from it: {', '.join(best[1:])}" if best[1:] else "")]
        if ref is not None:
            beat = [m for m in methods if m != ref and self.compare(m, ref, metric).better == m]
            lines.append(f"  significantly better than random: {len(beat)} of {len(methods) - 1}"
                         + (f" (not: {', '.join(m for m in methods if m not in beat and m != ref)})"
                            if len(beat) < len(methods) - 1 else ""))
        pairs = [c for c in self.comparisons if c.metric == metric and c.a in methods and c.b in methods
                 and ref not in (c.a, c.b)]
        ns = [c for c in pairs if not c.significant]
        lines.append(f"  pairs of methods not significantly different: {len(ns)} of {len(pairs)}"
                     + (": " + ", ".join(f"{c.a}~{c.b}" for c in ns) if 0 < len(ns) <= 12 else ""))
        import textwrap

        return "\n".join(textwrap.fill(line, width, subsequent_indent=" " * (4 if line.startswith(" ") else 2))
                         for line in lines)

    def table(self, metrics=None, methods=None, digits=3) -> str:
        """Mean [95 % CI] per method (rows) and metric (columns), ``digits`` after the point."""
        metrics = list(metrics or self.metrics)
        methods = [m for m in (methods or self.methods) if m in self.methods]
        width, cell = max(len(m) for m in methods) + 1, 3 * digits + 15
        head = f"{'':{width}s}" + "".join(f"{LABELS[k] + (' v' if BETTER[k] == 'lower' else ' ^'):>{cell}s}" for k in metrics)
        lines = [head]
        for meth in methods:
            cells = []
            for k in metrics:
                m, lo, hi, n = self.means[(meth, k)]
                text = f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
                cells.append(f"{'-':>{cell}s}" if not np.isfinite(m) else text.rjust(cell))
            lines.append(f"{meth:{width}s}" + "".join(cells))
        return "\n".join(lines)

    def plot(self, metrics=None, methods=None, ncols=3):
        """One panel per metric (``ncols`` to a row): each method's mean and 95 % CI, the best
        method and those not significantly different from it in red. Returns the figure."""
        import matplotlib.pyplot as plt

        metrics = list(metrics or self.metrics)
        methods = [m for m in (methods or self.methods) if m in self.methods]
        ncols = min(ncols, len(metrics))
        nrows = -(-len(metrics) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, (0.25 * len(methods) + 0.9) * nrows),
                                 squeeze=False)
        y = np.arange(len(methods))[::-1]
        for i, ax in enumerate(axes.ravel()):
            if i >= len(metrics):
                ax.set_visible(False)
                continue
            k = metrics[i]
            best = set(self.best(k, among=methods))
            for yi, meth in zip(y, methods):
                m, lo, hi, _ = self.means[(meth, k)]
                if np.isfinite(m):
                    color = "C3" if meth in best else "0.45"
                    ax.errorbar(m, yi, xerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=3, ms=4)
            ax.set_title(LABELS[k] + (" (lower is better)" if BETTER[k] == "lower" else " (higher is better)"),
                         fontsize=9)
            ax.set_ylim(-0.7, len(methods) - 0.3)
            ax.set_yticks(y)
            ax.set_yticklabels(methods if i % ncols == 0 else [], fontsize=8)
            ax.tick_params(axis="x", labelsize=8)
            ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig

    def to_json(self) -> dict:
        """Plain data: means with CIs per method and metric, and the comparisons."""
        import dataclasses

        return {"methods": self.methods, "metrics": self.metrics, "alpha": self.alpha,
                "means": [{"method": m, "metric": k, "mean": v[0], "low": v[1], "high": v[2], "n": v[3]}
                          for (m, k), v in self.means.items()],
                "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
                "best": {k: self.best(k) for k in self.metrics}, "meta": self.meta}

    def __str__(self) -> str:
        lines = [self.describe(), f"means with 95 % bootstrap CIs (BCa); paired Wilcoxon tests, Holm-corrected per "
                                  f"metric, alpha {self.alpha}"]
        head = f"{'method':12s}" + "".join(f"{LABELS[m] + (' v' if BETTER[m] == 'lower' else ' ^'):>25s}" for m in self.metrics)
        lines += [head, "-" * len(head)]
        for meth in self.methods:
            cells = []
            for met in self.metrics:
                m, lo, hi, n = self.means[(meth, met)]
                cells.append(f"{'-':>25s}" if not np.isfinite(m) else f"{m:8.3f} [{lo:7.3f}, {hi:7.3f}]".rjust(25))
            lines.append(f"{meth:12s}" + "".join(cells))
        lines.append("(v lower is better, ^ higher is better; ROAD: change of the class probability)")
        for met in self.metrics:
            best = self.best(met)
            ns = self.not_significant(met)
            lines.append(f"\n{LABELS[met]}: best {best[0] if best else '-'}"
                         + (f"; not significantly different from it: {', '.join(best[1:])}" if best[1:] else ""))
            n_pairs = len([c for c in self.comparisons if c.metric == met])
            lines.append(f"  {n_pairs - len(ns)} of {n_pairs} pairs differ significantly; not significant: "
                         + (", ".join(f"{c.a}~{c.b} (p={c.p_holm:.2f})" for c in ns) or "none"))
        return "\n".join(lines)


def summarize(rows, method_order, metrics=None, alpha=0.05, seed=0, n_resamples=2000, meta=None) -> Summary:
    """Rows of a study file (dicts with image, method and metric columns) -> a :class:`Summary`.
    Only images with a row for every method are used, so that all comparisons are paired."""
    from xaitools.study_base import METRICS

    metrics = list(metrics or METRICS)
    present = [m for m in method_order if any(r["method"] == m for r in rows)]
    images = {r["image"] for r in rows}
    for m in present:
        images &= {r["image"] for r in rows if r["method"] == m}
    s = Summary(present, metrics, alpha=alpha, meta=meta or {})
    for met in metrics:
        table = {m: {} for m in present}
        for r in rows:
            if r["method"] in table and r["image"] in images and r.get(met) is not None and np.isfinite(r[met]):
                table[r["method"]][r["image"]] = float(r[met])
        skip = [m for m in present if not table[m]]  # e.g. no randomization check for the reference
        for m in present:
            vals = list(table[m].values())
            s.means[(m, met)] = (*mean_ci(vals, n_resamples=n_resamples, seed=seed), len(vals))
        s.comparisons += paired({m: v for m, v in table.items() if m not in skip}, met, alpha)
    return s


__all__ = ["BETTER", "LABELS", "mean_ci", "holm", "Comparison", "wilcoxon_p", "paired", "Summary", "summarize"]
