"""The study runner (xaitools.study), ROAD (xaitools.road) and the study's statistics, on known answers."""

import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from xaitools import methods, road, study, study_stats


# -- ROAD ---------------------------------------------------------------------------------------------
def test_imputation_is_exact_on_a_linear_image_and_keeps_the_known_pixels():
    h, w = 20, 24
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([x / w, y / h, 0.3 + 0.01 * x], -1)
    keep = np.ones((h, w), bool)
    keep[5:15, 3:20] = False
    out = road.impute(image, keep)
    np.testing.assert_allclose(out, image, atol=1e-6)  # the weighted neighbour mean of a plane is the plane
    noisy = road.impute(image, keep, noise=0.1, seed=0)
    np.testing.assert_array_equal(noisy[keep], out[keep].astype(np.float32))
    assert 0.05 < np.std(noisy[~keep] - image[~keep]) < 0.15


def test_banded_cholesky_is_superlus_solution(monkeypatch):
    """The banded Cholesky gives pytorch-grad-cam's solver's (SuperLU's) solution, on a system with a
    wide band of unknowns that have no known pixel inside."""
    from scipy.sparse.linalg import spsolve

    rng = np.random.default_rng(3)
    image = rng.random((80, 80, 3))
    keep = rng.random((80, 80)) < 0.2  # 80 % removed: about 5100 unknowns
    keep[:, 30:60] = False
    seen = []
    solve = road._solve
    monkeypatch.setattr(road, "_solve", lambda A, rhs: seen.append((A, rhs)) or solve(A, rhs))
    out = road.impute(image, keep)
    (A, rhs), = seen
    lu = np.asarray(spsolve(A.tocsc(), rhs)).reshape(rhs.shape)
    np.testing.assert_allclose(out[~keep], lu.astype(np.float32), atol=1e-6)
    assert np.abs(out[~keep] - image[~keep]).mean() > 0.1  # the removed pixels really were re-computed


def textured(h=32, w=32):
    """Flat grey, with a checkerboard in the square [8:20, 8:20]: the only evidence for class 0."""
    image = np.full((h, w, 3), 0.5, np.float32)
    board = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(np.float32)
    image[8:20, 8:20] = 0.2 + 0.6 * board[8:20, 8:20, None]
    region = np.zeros((h, w), bool)
    region[8:20, 8:20] = True
    return image, region


def texture_model(batch):
    """p(class 0) rises with the local contrast (|Laplacian|) of the image: imputation removes it."""
    b = np.asarray(batch, np.float64).mean(axis=-1)
    lap = np.abs(4 * b[:, 1:-1, 1:-1] - b[:, :-2, 1:-1] - b[:, 2:, 1:-1] - b[:, 1:-1, :-2] - b[:, 1:-1, 2:])
    z = 40 * lap.mean(axis=(1, 2)) - 2
    p0 = 1 / (1 + np.exp(-z))
    return np.stack([p0, 1 - p0], 1)


def test_road_morf_drops_more_for_the_right_map_and_lerf_the_opposite():
    image, region = textured()
    right = np.where(region, 1.0, 0.0) + 0.01 * np.random.default_rng(0).random(region.shape)
    inverted = 1.0 - right
    assert texture_model(image[None])[0, 0] > 0.9
    good = road.road(image, texture_model, 0, right, noise=0.005, seed=0)
    bad = road.road(image, texture_model, 0, inverted, noise=0.005, seed=0)
    assert good.morf < bad.morf - 0.3  # removing the texture first: a large drop
    assert good.lerf > bad.lerf + 0.3  # removing the flat background first: almost none
    assert good.combined > bad.combined
    # pytorch-grad-cam's masks: MoRF at p removes map >= percentile p; LeRF the lowest 100 - p %
    m = np.arange(100.0).reshape(10, 10) / 99
    assert (~road.keep_mask(m, 80, "morf")).sum() == 20 and (~road.keep_mask(m, 20, "lerf")).sum() == 80
    assert (~road.keep_mask(m, 80, "morf"))[m >= 0.8].all()


def test_road_with_the_known_score_of_the_image_skips_it():
    image, region = textured()
    right = np.where(region, 1.0, 0.0) + 0.01 * np.random.default_rng(0).random(region.shape)
    batch = road.perturbed(image, right, (20, 50, 80), noise=0.005, seed=0)
    sizes = []

    def counting(b):
        sizes.append(len(b))
        return texture_model(b)

    full = road.score(batch, texture_model, 0, (20, 50, 80))
    known = road.score(batch, counting, 0, (20, 50, 80), before=texture_model(image[None])[0, 0])
    assert sizes == [6]
    np.testing.assert_allclose([known.morf, known.lerf], [full.morf, full.lerf], atol=1e-12)
    assert road.score(batch, texture_model, 0, (20, 50, 80), before=0.0).morf > full.morf + 0.5


# -- statistics ---------------------------------------------------------------------------------------
def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 400)
    m1, lo1, hi1 = study_stats.mean_ci(small, seed=0)
    m2, lo2, hi2 = study_stats.mean_ci(large, seed=0)
    assert lo1 < m1 < hi1 and lo2 < m2 < hi2
    assert (hi2 - lo2) < (hi1 - lo1) / 2  # 20 times the images: a much narrower interval
    for x, lo, hi in ((small, lo1, hi1), (large, lo2, hi2)):  # the normal theory's 2 * 1.96 * sd / sqrt(n)
        assert hi - lo == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(len(x)), rel=0.2)
    assert study_stats.mean_ci(small, seed=0) == (m1, lo1, hi1)  # seeded
    assert study_stats.mean_ci([2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_wilcoxon_with_holm_finds_a_clear_paired_difference_and_not_a_null_one():
    rng = np.random.default_rng(2)
    base = rng.normal(0.5, 0.2, 40)  # images differ a lot; the paired difference is what counts
    table = {"a": dict(enumerate(base)), "b": dict(enumerate(base + 0.05 + rng.normal(0, 0.02, 40))),
             "c": dict(enumerate(base + rng.normal(0, 0.02, 40)))}
    comps = {(c.a, c.b): c for c in study_stats.paired(table, "deletion")}
    assert comps["a", "b"].significant and comps["a", "b"].better == "a"  # deletion: lower is better
    assert comps["b", "c"].significant and comps["b", "c"].better == "c"
    assert not comps["a", "c"].significant and comps["a", "c"].p_holm > 0.05
    assert all(c.p_holm >= c.p for c in comps.values())
    np.testing.assert_allclose(study_stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_summary_names_the_best_group_and_who_beats_the_random_reference():
    rng = np.random.default_rng(4)
    base = rng.normal(0.5, 0.1, 30)
    shift = {"random": 0.2, "good": 0.0, "twin": 0.0, "poor": 0.2}  # deletion: lower is better
    rows = [{"image": str(i), "method": m, "deletion": base[i] + d + rng.normal(0, 0.01), "insertion": 0.5,
             "road_morf": None, "road_lerf": None, "seconds": None, "rand_rho": None}
            for m, d in shift.items() for i in range(30)]
    s = study_stats.summarize(rows, list(shift), metrics=["deletion", "insertion"], n_resamples=200)
    assert s.best("deletion") == ["good", "twin"] and s.best("deletion", among=["poor", "twin"]) == ["twin"]
    text = " ".join(s.verdicts("deletion").split())
    assert "best good; not significantly different from it: twin" in text
    assert "significantly better than random: 2 of 3 (not: poor)" in text
    assert s.compare("twin", "good", "deletion") is s.compare("good", "twin", "deletion")
    assert "pairs of methods not significantly different: 1 of 3: good~twin" in text
    assert "insertion AUC (higher is better): best" in s.verdicts("insertion")  # all equal: every pair tied
    # wrapped: the headline's own lines go on indented by 2, the indented lines' by 4 (study_stats:180)
    narrow = s.verdicts("deletion", width=40).splitlines()
    assert narrow[0].startswith("deletion AUC") and narrow[1].startswith("  ") and narrow[1][2] != " "
    at = next(i for i, line in enumerate(narrow) if line.startswith("  significantly better"))
    assert narrow[at + 1].startswith("    ") and narrow[at + 1][4] != " "
    assert " ".join(" ".join(narrow).split()) == " ".join(s.verdicts("deletion").split())
    table = s.table(["deletion"], ["good", "poor"], digits=2).splitlines()
    m, lo, hi, _ = s.means[("good", "deletion")]
    assert len(table) == 3 and table[1].split() == ["good", f"{m:.2f}", f"[{lo:.2f},", f"{hi:.2f}]"]
    fig = s.plot(["deletion", "insertion"], ["random", "good"])
    assert len(fig.axes) == 2 and fig.axes[0].get_yticklabels()[0].get_text() == "random"

    # the printed summary (`study-summary`, the committed study/*.txt; mutation run 3's survivors
    # study_stats:245 and :260): a header of labels with their direction, one row per method, the verdicts
    printed = str(s).splitlines()
    assert printed[0] == "30 images"  # rows given by hand: no model or settings to describe
    at = next(i for i, line in enumerate(printed) if line.startswith("method"))
    assert printed[at].split() == ["method", "deletion", "AUC", "v", "insertion", "AUC", "^"]
    assert printed[at + 1] == "-" * len(printed[at])
    for line, meth in zip(printed[at + 2 : at + 6], shift):
        m, lo, hi, _ = s.means[(meth, "deletion")]
        assert line.split()[:5] == [meth, f"{m:.3f}", "[", f"{lo:.3f},", f"{hi:.3f}]"]
    deletion = printed[printed.index("deletion AUC: best good; not significantly different from it: twin") + 1]
    assert deletion.startswith("  4 of 6 pairs differ significantly; not significant: ")
    assert sorted(deletion.split(": ", 1)[1].split(", ")) == sorted(
        f"{c.a}~{c.b} (p={c.p_holm:.2f})" for c in s.not_significant("deletion"))
    assert {(c.a, c.b) for c in s.not_significant("deletion")} == {("random", "poor"), ("good", "twin")}
    assert "  0 of 6 pairs differ significantly; not significant: random~good" in str(s)  # insertion: all tied


def test_verdicts_list_up_to_twelve_tied_pairs():
    """Two groups of methods, equal inside a group, apart across: 4 + 4 methods give 12 tied pairs
    (listed), 5 + 3 give 13 (only counted); with none, nothing follows the count (mutation run 3's survivor
    study_stats:177, ``0 < len(ns)`` -> ``0 <= len(ns)``, and its neighbours)."""
    base = np.random.default_rng(6).normal(0.5, 0.1, 30)
    for group, listed in ((4, True), (5, False)):
        names = [f"m{k}" for k in range(8)]
        rows = [{"image": str(i), "method": m, "deletion": base[i] + (0.2 if k >= group else 0.0)}
                for k, m in enumerate(names) for i in range(30)]
        s = study_stats.summarize(rows, names, metrics=["deletion"], n_resamples=100)
        tied = len(s.not_significant("deletion"))
        assert tied == group * (group - 1) // 2 + (8 - group) * (7 - group) // 2
        text = " ".join(s.verdicts("deletion").split())
        assert f"pairs of methods not significantly different: {tied} of 28" in text
        assert ("m0~m1" in text) is listed, text
    rows = [{"image": str(i), "method": f"m{k}", "deletion": base[i] + 0.1 * k} for k in range(8) for i in range(30)]
    text = study_stats.summarize(rows, [f"m{k}" for k in range(8)], metrics=["deletion"], n_resamples=100).verdicts("deletion")
    assert text.endswith("pairs of methods not significantly different: 0 of 28")  # no tied pair: no list, no colon


# -- the runner on a tiny Keras model -----------------------------------------------------------------
def tiny_model(seed=0):
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))
    rng = np.random.RandomState(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    d = tmp_path / "images"
    d.mkdir()
    rng = np.random.RandomState(5)
    for i in range(4):
        Image.fromarray((rng.rand(20, 24, 3) * 255).astype(np.uint8)).save(d / f"im{i}.png")
    return d


FAST = dict(batch_size=1, sanity_images=2, sanity_seeds=2, progress=False, percentiles=[20, 50, 80])


def ramp(resized):
    """A fixed map per image: x + y."""
    y, x = np.mgrid[0:resized.shape[1], 0:resized.shape[2]]
    return np.stack([(x + y).astype(np.float32)] * len(resized))


@pytest.fixture
def temp_method():
    """Registers a method for one test (``register(name, maps)``) and removes it afterwards."""
    names = []

    def register(name, maps):
        methods.register(name, methods.map_method(maps), doc="test only")
        names.append(name)

    yield register
    for name in names:
        methods.METHODS.pop(name, None)


@pytest.fixture
def flaky(temp_method):
    """A registered method (a fixed map) that raises on a chosen call: an interrupted run."""
    state = {"calls": 0, "fail_at": None}

    def maps(model, resized, classes, **options):
        state["calls"] += 1
        if state["calls"] == state["fail_at"]:
            raise KeyboardInterrupt  # as Ctrl-C would
        return ramp(resized)

    temp_method("flaky", maps)
    return state


def test_a_methods_seconds_leave_out_its_warm_up(folder, tmp_path, monkeypatch, temp_method):
    """The seconds per image are those of the timed call, not of the first calls that compile the
    method (mutation run 3's survivor study_run:186, the warm-up's time not set aside). A clock that
    only the method moves: 100 s per warm-up call, 1 s per image explained."""
    import types

    from xaitools import study_run

    clock = {"now": 0.0, "calls": 0}

    def maps(model, resized, classes, **options):
        clock["calls"] += 1
        clock["now"] += 100.0 if clock["calls"] <= 2 else float(len(resized))  # warm-up: one image, then two
        return ramp(resized)

    temp_method("clocked", maps)
    monkeypatch.setattr(study_run, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"], time=time.time))
    out = tmp_path / "s.sqlite"
    study.run(folder, tiny_model(0), ["clocked"], images=3, out=out, preprocess="unit", workers=0,
              **(FAST | dict(batch_size=3, sanity_images=0)))
    assert clock["calls"] == 3
    assert [r["seconds"] for r in study.Store(out).rows() if r["method"] == "clocked"] == [1.0, 1.0, 1.0]
    parts = study.Store(out).get("runs")[-1]["seconds_by_part"]
    assert parts["explain"] == 3.0 and parts["other"] == 200.0


def test_an_interrupted_study_keeps_its_rows_and_a_rerun_completes_without_recomputing(folder, tmp_path, flaky):
    out = tmp_path / "s.sqlite"
    model = tiny_model()
    flaky["fail_at"] = 6  # warm-up, image 0 and its randomized model, the same for image 1, then image 2 fails
    with pytest.raises(KeyboardInterrupt):
        study.run(folder, model, ["flaky"], images=4, out=out, preprocess="unit", **FAST)
    db = sqlite3.connect(out)
    kept = dict(db.execute("SELECT image || method, finished FROM rows"))
    assert {k for k in kept if k.endswith("flaky")} == {"im0.pngflaky", "im1.pngflaky"}
    assert "im2.pngrandom" in kept  # the reference row of image 2 was finished before the failure
    flaky.update(calls=0, fail_at=None)
    study.run(folder, model, ["flaky"], images=4, out=out, preprocess="unit", **FAST)
    assert flaky["calls"] == 3  # warm-up + images 2 and 3 only (images 0, 1: done; no sanity check there)
    rows = study.Store(out).rows()
    assert len(rows) == 8 and {r["method"] for r in rows} == {"random", "flaky"}
    again = dict(db.execute("SELECT image || method, finished FROM rows"))
    assert all(again[k] == v for k, v in kept.items())  # finished rows untouched
    s = study.summary(out)
    assert s.means[("flaky", "deletion")][3] == 4 and s.means[("flaky", "rand_rho")][3] == 2
    assert s.means[("random", "rand_rho")][3] == 0


def test_a_store_of_other_settings_or_another_model_is_refused(folder, tmp_path):
    out = tmp_path / "s.sqlite"
    study.run(folder, tiny_model(0), ["gradcam"], images=1, out=out, preprocess="unit", **FAST)
    n = len(study.Store(out).rows())
    # the message names what differs, and only that (mutation run 2's survivor study:149)
    with pytest.raises(study.StudyError, match=r"other settings \(steps: \d+ in the file, 10 now\)"):
        study.run(folder, tiny_model(0), ["gradcam"], images=1, out=out, preprocess="unit", steps=10, **FAST)
    with pytest.raises(study.StudyError, match="other settings"):
        study.run(folder, tiny_model(0), ["gradcam", "saliency"], images=1, out=out, preprocess="unit", **FAST)
    with pytest.raises(study.StudyError, match="another model"):
        study.run(folder, tiny_model(1), ["gradcam"], images=1, out=out, preprocess="unit", **FAST)
    assert len(study.Store(out).rows()) == n
    for bad in (dict(images=0), dict(steps=-1), dict(road_noise=float("nan")), dict(options={"gradcam": {"output": "x"}})):
        kw = dict(FAST, **{k: v for k, v in bad.items() if k != "images"})
        with pytest.raises(study.StudyError):
            study.run(folder, tiny_model(0), ["gradcam"], images=bad.get("images", 1), out=tmp_path / "t.sqlite",
                      preprocess="unit", **kw)


def test_rows_do_not_depend_on_roads_worker_processes(folder, tmp_path):
    """ROAD's imputations in a worker process give the same numbers as in-process (seeded per map)."""
    got = []
    for workers in (0, 1):
        out = tmp_path / f"w{workers}.sqlite"
        study.run(folder, tiny_model(0), ["gradcam"], images=2, out=out, preprocess="unit", workers=workers, **FAST)
        got.append({(r["image"], r["method"]): (r["road_morf"], r["road_lerf"], r["deletion"]) for r in study.Store(out).rows()})
        run = study.Store(out).get("runs")[-1]
        assert run["workers"] == workers and run["cpu_seconds"] > 0
    assert len(got[0]) == 4 and got[0] == got[1]
    assert len({v[0] for v in got[0].values()}) > 1  # not all the same number


def test_a_changed_image_or_another_folder_is_refused_by_the_images_hashes(folder, tmp_path):
    """Each image's hash, position and top class are stored with the rows; a rerun whose image of the same
    name has other pixels, or whose folder holds none of the file's images, is refused (mutation run 3's
    survivor study_run:134, the images table never written)."""
    from PIL import Image

    out = tmp_path / "s.sqlite"
    study.run(folder, tiny_model(0), ["gradcam"], images=2, out=out, preprocess="unit", **FAST)
    with sqlite3.connect(out) as db:
        stored = db.execute("SELECT name, position, probability FROM images ORDER BY position").fetchall()
    assert [(n, i) for n, i, _ in stored] == [("im0.png", 0), ("im1.png", 1)] and all(0 < p <= 1 for *_, p in stored)

    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(folder / "im1.png")
    with pytest.raises(study.StudyError, match="im1.png differs from the image of that name"):
        study.run(folder, tiny_model(0), ["gradcam"], images=2, out=out, preprocess="unit", **FAST)
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(other / "new.png")
    with pytest.raises(study.StudyError, match="holds other images than the folder"):
        study.run(other, tiny_model(0), ["gradcam"], images=1, out=out, preprocess="unit", **FAST)


def cli(*args):
    done = subprocess.run([sys.executable, "-m", "xaitools", *map(str, args)], capture_output=True, text=True)
    return done.returncode, done.stderr.strip().splitlines()


def test_cli_refuses_bad_input_with_one_line_and_exit_code_2(folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "s.sqlite"
    _, _, store = study.prepare(folder, ["gradcam"], 1, out, steps=10)  # a store with other settings ...
    store.add_row({"image": "im0.png", "method": "gradcam", "deletion": 0.5})  # ... and a finished row
    cases = {
        "no images": (empty, "--methods", "gradcam"),
        "unknown method 'nope'": (folder, "--methods", "gradcam,nope"),
        "images must be a positive integer": (folder, "--methods", "gradcam", "--images", "0"),
        "must be a finite number": (folder, "--methods", "gradcam", "--road-noise", "nan"),
        "--workers must be >= 0, got -1": (folder, "--methods", "gradcam", "--workers", "-1"),
        "--sanity-images must be >= 0, got -1": (folder, "--methods", "gradcam", "--sanity-images", "-1"),
        "ROAD percentile must be a number, got 'abc'": (folder, "--methods", "gradcam", "--road-percentiles", "20,abc"),
        "other settings": (folder, "--methods", "gradcam"),
    }
    for expected, args in cases.items():
        target = out if expected == "other settings" else tmp_path / "new.sqlite"
        code, lines = cli("study", *args, "--out", target)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], (expected, lines)
    assert not (tmp_path / "new.sqlite").exists()  # refused before anything was written


def test_the_study_commands_defaults_are_the_librarys_and_it_runs_without_workers(folder, tmp_path, capsys,
                                                                                   monkeypatch):
    """A study made from the shell has the settings of one made from Python when no flag is given
    (mutation run 3's survivor study_cli:27, --steps 20 -> 21); --workers 0 (ROAD's imputations in the
    command's own process) and --sanity-images 0 run (study_cli:69 and :71, ``< 0`` -> ``<= 0``); the
    file records the command as typed, by ``python -m`` or by the console script (:91); both commands
    return 0 (:94, :105) and study-summary --json prints the summary (:100)."""
    import inspect
    import json

    from xaitools import cli as cli_module

    args = cli_module._parser().parse_args(["study", "f", "--methods", "gradcam", "--out", "s.sqlite"])
    library = inspect.signature(study.make_settings).parameters
    for name in ("seed", "steps", "road_noise", "sanity_images", "sanity_seeds", "batch_size"):
        assert getattr(args, name) == library[name].default, name
    assert args.road_percentiles is None and library["percentiles"].default is None

    tiny_model().save(tmp_path / "tiny.keras")
    out = tmp_path / "w0.sqlite"
    argv = ["study", str(folder), "--model", str(tmp_path / "tiny.keras"), "--preprocess", "unit", "--methods",
            "gradcam", "--images", "2", "--steps", "5", "--sanity-images", "0", "--workers", "0", "--quiet",
            "--out", str(out)]
    code, lines = cli(*argv)
    assert code == 0, lines
    with sqlite3.connect(out) as db:
        assert db.execute("select count(*) from rows where road_morf is not null").fetchone()[0] == 4
    first = study.Store(out).get("runs")[-1]
    assert first["workers"] == 0 and first["command"].startswith(f"python -m xaitools study {folder} --model")

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["/opt/bin/xaitools", *argv])  # as the console script would be called
    assert cli_module.main(argv) == 0  # the study is finished: nothing to do
    assert study.Store(out).get("runs")[-1]["command"] == " ".join(["/opt/bin/xaitools", *argv])
    assert cli_module.main(["study-summary", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the line "...: done in N s"
    assert summary["methods"] == ["random", "gradcam"] and len(summary["means"]) == 2 * len(summary["metrics"])


def test_a_file_that_is_not_a_study_is_refused_with_its_name(tmp_path):
    """A text file given as --out: the one-line StudyError, not SQLite's traceback (mutation run 2's
    survivor study:133)."""
    notes = tmp_path / "notes.sqlite"
    notes.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(study.StudyError, match=r"notes\.sqlite is not a study file"):
        study.Store(notes)
    assert notes.read_text().startswith("these are my notes")  # left as it was


def test_a_method_given_twice_is_refused():
    """Two rows of one (image, method) cannot be stored: refused before any work (mutation run 2's
    survivor study:81)."""
    with pytest.raises(study.StudyError, match="a method is given twice: gradcam, saliency, gradcam"):
        study.make_settings(["gradcam", "saliency", "gradcam"])
    assert study.make_settings(["gradcam", "saliency"])["methods"] == ["gradcam", "saliency"]


def test_settings_of_a_run_that_computed_nothing_may_change(folder, tmp_path):
    """A run that stopped before any row (e.g. its model failed to load) does not hold its file to its
    settings; once a model is recorded, other settings are refused (mutation run 2's survivor study:207)."""
    out = tmp_path / "s.sqlite"
    study.prepare(folder, ["gradcam"], 1, out, steps=10)
    sett, _, _ = study.prepare(folder, ["gradcam"], 1, out, steps=20)
    assert sett["steps"] == 20 and study.Store(out).get("settings")["steps"] == 20
    study.Store(out).put("model", {"name": "m"})
    with pytest.raises(study.StudyError, match="other settings"):
        study.prepare(folder, ["gradcam"], 1, out, steps=30)
