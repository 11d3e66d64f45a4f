"""Cross-check the study's metrics against Quantus 0.6 (an implementation we did not write).

    XAITOOLS_MIRROR=... python benchmarks/quantus_crosscheck.py [N_IMAGES] [--methods a,b,c] [--json FILE]

Test dependency only: ``make install`` installs it (``pip install --no-deps -r requirements-quantus.txt``).
Not part of ``make test`` (slow: Quantus' ROAD builds its sparse systems with ``lil_matrix``);
``tests/test_quantus.py`` is the fast comparison that is.

On the first N dog photos (dog_breeds, target = the top class) and a few cheap methods plus a random
map, it computes per image:

- ours (``xaitools.study``): deletion AUC, ROAD MoRF (mean probability change), |rho| after full
  randomization (re-initialised weights);
- Quantus: ``ROAD`` (MoRF, percentages 10..90, noise 0.01: whether the top class survives),
  ``PixelFlipping`` (60 steps, ``perturb_baseline="black"``, AUC per sample), ``RegionPerturbation``
  (16x16 patches, 20 regions, MoRF: AOPC), ``ModelParameterRandomisation`` (top-down cascade to the
  last layer, Spearman);

and, per image, the Spearman rank correlation **across methods** between our number and Quantus'.
Each disagreement is then measured: our deletion with Quantus' baseline (black) instead of blur,
our ROAD imputations scored as Quantus does (top class kept, 0/1) instead of the probability change.
The model goes to Quantus as a plain ``keras.Model`` on the network's input ([-1, 1], MobileNetV2
scaling), inputs channel-last; explanations come from ``xaitools.explain`` on the same pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

DOGS = "cats_and_dogs_filtered/validation/dogs"


def rank_agreement(ours: dict, theirs: dict, sign: int = 1) -> float:
    """Spearman over methods of one image: ours[method] vs sign * theirs[method]."""
    names = [m for m in ours if m in theirs and np.isfinite(ours[m]) and np.isfinite(theirs[m])]
    a, b = [ours[m] for m in names], [sign * theirs[m] for m in names]
    if len(names) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b)[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=3)
    ap.add_argument("--methods", default="gradcam,gradcam++,layercam,saliency,eigencam")
    ap.add_argument("--json", default=None)
    ap.add_argument("--store", default=None, help="the study file for our numbers (continued if it exists)")
    ap.add_argument("--parts", default="weights,road,pf,rp,mpr,measure,third",
                    help="which of weights,road,pf,rp,mpr,measure,third to run")
    ap.add_argument("--no-workarounds", dest="workarounds", action="store_false",
                    help="call Quantus as documented (shows what breaks)")
    args = ap.parse_args(argv)

    import quantus

    import xaitools
    from xaitools import data, metrics, road, study

    folder = Path(os.environ.get("XAITOOLS_MIRROR", ".")) / DOGS
    names = args.methods.split(",")
    clf = xaitools.load_model("dog_breeds")
    paths = study.list_images(folder)[: args.n]
    report: dict = {"n_images": len(paths), "methods": names, "quantus": quantus.__version__, "errors": {}}

    # -- ours, through the study runner ---------------------------------------------------------
    t0 = time.time()
    out = Path(args.store) if args.store else Path(tempfile.mkdtemp()) / "crosscheck.sqlite"
    study.run(folder, clf, names, images=len(paths), out=out, sanity_images=len(paths), sanity_seeds=1,
              batch_size=len(paths), progress=False)
    rows = study.Store(out).rows()
    ours = {k: {p.name: {} for p in paths} for k in ("deletion", "road_morf", "rand_rho")}
    for r in rows:
        for k in ours:
            ours[k][r["image"]][r["method"]] = float("nan") if r[k] is None else r[k]
    report["seconds_ours"] = round(time.time() - t0, 1)

    # -- the same pixels and maps for Quantus -----------------------------------------------------
    resized = np.stack([clf.resize(data.load_image(p))[0] for p in paths])
    probs = clf.predict_resized(resized)
    y = np.argmax(probs, axis=1)
    x = clf.preprocess(resized)  # (N, 160, 160, 3) in [-1, 1]
    maps = {m: np.stack([r.map for r in xaitools.explain(clf, list(resized), m, classes=list(y))]) for m in names}
    maps["random"] = np.stack([study._rng(222, p.name, "random").random(clf.input_size).astype(np.float32) for p in paths])
    km = clf.model
    theirs: dict = {k: {p.name: {} for p in paths} for k in ("road", "pixel_flipping", "region_perturbation", "mpr")}
    extra: dict = {k: {p.name: {} for p in paths} for k in ("deletion_black", "road_kept")}

    def attempt(key, fn):
        try:
            fn()
        except Exception as exc:  # report exactly what breaks
            report["errors"][key] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            traceback.print_exc()

    hw = int(np.prod(clf.input_size))

    def pixel_imputation(arr, indices, **kwargs):
        # Quantus 0.6's ROAD broadcasts a (1, H, W) map over the 3 channels and hands the imputer
        # indices into the 3*H*W features, but noisy_linear_imputation indexes the H*W pixels of a
        # (C, H, W) array: IndexError. Workaround: the same imputer, on the pixels those features belong to.
        from quantus.functions.perturb_func import noisy_linear_imputation

        return noisy_linear_imputation(arr, np.unique(np.asarray(indices) % hw), **kwargs)

    def q_road():
        kw = {"perturb_func": pixel_imputation} if args.workarounds else {}
        metric = quantus.ROAD(percentages=list(range(10, 100, 10)), noise=0.01, display_progressbar=False,
                              disable_warnings=True, **kw)
        for m, a in maps.items():
            for i, p in enumerate(paths):  # one image at a time: Quantus averages ROAD over the batch
                res = metric(model=km, x_batch=x[i : i + 1], y_batch=y[i : i + 1], a_batch=a[i : i + 1, None],
                             channel_first=False, softmax=True)
                theirs["road"][p.name][m] = float(np.mean(list(res.values())))

    def q_pixel_flipping():
        # Quantus checks features_in_step against the map's H * W (it must divide 25600) but then steps
        # through the map broadcast over the 3 channels (3 * H * W features): 1280 gives 60 steps of 1/60
        # of the features (3840, i.e. our 20 steps of 5 %, fails its check: 25600 % 3840 != 0)
        steps = hw // 20
        # return_auc_per_sample=True calls np.trapz, gone in NumPy 2.4: AttributeError. Workaround:
        # the curves (20 probabilities, after each step) and their trapezoid area here, x from 1/20 to 1.
        auc = not args.workarounds
        metric = quantus.PixelFlipping(features_in_step=steps, perturb_baseline="black", return_auc_per_sample=auc,
                                       display_progressbar=False, disable_warnings=True)
        for m, a in maps.items():
            res = metric(model=km, x_batch=x, y_batch=y, a_batch=a[:, None], channel_first=False, softmax=True)
            for p, v in zip(paths, res):
                curve = np.asarray(v, dtype=np.float64)
                theirs["pixel_flipping"][p.name][m] = float(np.trapezoid(curve, dx=1 / len(curve))) if not auc else float(v)

    def q_region():
        metric = quantus.RegionPerturbation(patch_size=16, regions_evaluation=20, order="morf",
                                            perturb_baseline="black", display_progressbar=False, disable_warnings=True)
        for m, a in maps.items():
            res = metric(model=km, x_batch=x, y_batch=y, a_batch=a[:, None], channel_first=False, softmax=True)
            for p, curve in zip(paths, res):
                theirs["region_perturbation"][p.name][m] = float(np.mean(curve))  # AOPC: higher = better

    def q_mpr():
        def explain_func(model, inputs, targets, method=None, **_):
            xi = np.asarray(inputs)
            xi = xi.transpose(0, 2, 3, 1) if xi.shape[1] == 3 and xi.shape[-1] != 3 else xi
            unit = np.clip((xi + 1) / 2, 0, 1).astype(np.float32)  # back to [0, 1] (MobileNetV2 scaling)
            c = clf if model is km else clf.with_model(model)
            out = [r.map for r in xaitools.explain(c, list(unit), method, classes=[int(t) for t in targets])]
            return np.stack(out)[:, None]

        for m in names:
            metric = quantus.ModelParameterRandomisation(similarity_func=quantus.similarity_func.correlation_spearman,
                                                         layer_order="top_down", seed=222, return_sample_correlation=False,
                                                         display_progressbar=False, disable_warnings=True)
            res = metric(model=km, x_batch=x, y_batch=y, a_batch=maps[m][:, None], channel_first=False, softmax=True,
                         explain_func=explain_func, explain_func_kwargs={"method": m})
            last = list(res)[-1]  # every weighted layer permuted (cascade end)
            for p, v in zip(paths, res[last]):
                theirs["mpr"][p.name][m] = abs(float(v))

    def measurements():  # the disagreements, measured: the same metric with Quantus' choices
        noise = road.noise_for(clf)
        for m, a in maps.items():
            for i, p in enumerate(paths):
                black = resized[i].min(axis=(0, 1))  # Quantus' "black": the image's minimum per channel
                extra["deletion_black"][p.name][m] = metrics.deletion(resized[i], clf.predict_resized, int(y[i]), a[i],
                                                                      steps=20, baseline=black).auc
                rng = np.random.default_rng(0)
                batch = [np.clip(road.impute(resized[i], road.keep_mask(a[i], q), noise, rng), 0, 1)
                         for q in range(10, 100, 10)]
                kept = np.argmax(clf.predict_resized(np.stack(batch)), axis=1) == y[i]
                extra["road_kept"][p.name][m] = float(kept.mean())

    def third_measurement():
        # Quantus' ROAD takes the top int(H * W * p / 100) of the map broadcast over 3 channels (3 * H * W
        # entries, each pixel 3 times): about p / 3 % of the pixels. Ours with that removal, scored as Quantus does.
        noise = road.noise_for(clf)
        for m, a in maps.items():
            for i, p in enumerate(paths):
                rng = np.random.default_rng(0)
                batch = [np.clip(road.impute(resized[i], road.keep_mask(a[i], 100 - q / 3), noise, rng), 0, 1)
                         for q in range(10, 100, 10)]
                kept = np.argmax(clf.predict_resized(np.stack(batch)), axis=1) == y[i]
                extra.setdefault("road_kept_third", {n.name: {} for n in paths})[p.name][m] = float(kept.mean())

    def weights_measurement():  # how random is each "fully randomized" network?
        flat = metrics.randomize_top_layers(km, 0)  # the trained weights, flattened
        ours_m = metrics.randomize_top_layers(km, len(metrics.weighted_layers(km)), seed=222)
        trained, reinit = flat.get_weights(), ours_m.get_weights()
        permuted = []
        for w in trained:  # Quantus 0.6 TensorFlowModel.get_random_layer_generator: seed + 1, permute axis 0
            np.random.seed(222 + 1)
            permuted.append(np.random.permutation(w))
        n = sum(w.size for w in trained)
        report["mpr_weights"] = {
            "unchanged_fraction_ours": float(sum(np.sum(np.isclose(w, r)) for w, r in zip(trained, reinit)) / n),
            "unchanged_fraction_quantus": float(sum(np.sum(w == q) for w, q in zip(trained, permuted)) / n),
            "kernel_axis0_lengths": sorted({int(w.shape[0]) for w in trained if w.ndim == 4})}
        print("MPR weights:", report["mpr_weights"])

    parts = [("weights", "weights", weights_measurement), ("road", "ROAD", q_road), ("pf", "PixelFlipping", q_pixel_flipping), ("rp", "RegionPerturbation", q_region),
             ("mpr", "ModelParameterRandomisation", q_mpr), ("measure", "measurements", measurements),
             ("third", "ROAD removing p/3 %", third_measurement)]
    for _, key, fn in [t for t in parts if t[0] in args.parts.split(",")]:
        t = time.time()
        attempt(key, fn)
        report.setdefault("seconds", {})[key] = round(time.time() - t, 1)

    # -- agreement per image: rank correlation across methods -------------------------------------
    pairs = [("deletion vs PixelFlipping AUC", ours["deletion"], theirs["pixel_flipping"], 1),
             ("deletion (black) vs PixelFlipping AUC", extra["deletion_black"], theirs["pixel_flipping"], 1),
             ("deletion vs RegionPerturbation AOPC (sign flipped)", ours["deletion"], theirs["region_perturbation"], -1),
             ("ROAD MoRF dp vs Quantus ROAD (class kept)", ours["road_morf"], theirs["road"], 1),
             ("ROAD MoRF, class kept vs Quantus ROAD", extra["road_kept"], theirs["road"], 1),
             ("ROAD MoRF, class kept, p/3 % removed vs Quantus ROAD", extra.get("road_kept_third", {}), theirs["road"], 1),
             ("|rho| re-init vs Quantus MPR |rho| (permuted)", ours["rand_rho"], theirs["mpr"], 1)]
    report["agreement"] = {}
    print(f"Quantus {quantus.__version__}; {len(paths)} images; methods {', '.join(names)} (+ random map)")
    for label, a, b, sign in pairs:
        per = [rank_agreement(a.get(p.name, {}), b.get(p.name, {}), sign) for p in paths]
        report["agreement"][label] = per
        print(f"{label:52s} " + " ".join(f"{v:6.2f}" for v in per))
    report["values"] = {"ours": ours, "quantus": theirs, "measurements": extra}
    for k, v in report["errors"].items():
        print(f"BROKE {k}: {v}")
    print("seconds:", report["seconds"], "ours:", report["seconds_ours"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
