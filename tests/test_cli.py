import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xaitools import cli, methods

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["cat", "dog", "fox"]


def test_predict_prints_the_top_classes(capsys):
    assert cli.main(["predict", "cat-and-dog.jpg", "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Labrador_retriever") and "n02099712" in lines[0]


def test_explain_lime_writes_heatmap_and_overlay(tmp_path, capsys):
    hm, png = tmp_path / "map.npy", tmp_path / "overlay.png"
    args = ["explain", "cat-and-dog.jpg", "--method", "lime", "--samples", "40", "--class", "Labrador_retriever"]
    assert cli.main(args + ["--heatmap-out", str(hm), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Labrador_retriever (class 7" in out and f"map -> {hm}" in out and f"overlay -> {png}" in out
    heatmap = np.load(hm)
    assert heatmap.shape == (523, 500) and heatmap.dtype == np.float32  # the image's own H x W
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    assert Image.open(png).size == (500, 523)


# -- a user's own model: a Sequential base nested in a functional model, GAP -> Dense, as .keras -------
def nested_model():
    import keras

    rng = np.random.RandomState(0)
    base = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.Conv2D(5, 3, activation="relu", name="c1"),
                             keras.layers.Conv2D(6, 3, activation="relu", name="c2")], name="base")
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """tiny.keras, classes.txt and a folder of four images of different sizes (one not an image)."""
    root = tmp_path_factory.mktemp("user")
    nested_model().save(root / "tiny.keras")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    folder = root / "images"
    folder.mkdir()
    rng = np.random.RandomState(1)
    for name, (h, w) in {"b.png": (30, 40), "a.jpg": (24, 24), "d.png": (50, 31), "c.bmp": (17, 26)}.items():
        Image.fromarray(rng.randint(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return root


def run_json(argv, capsys):
    assert cli.main(argv) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


# light options so that every method runs in a second or two on the tiny model
LIGHT = {"samples": "12", "steps": "4", "masks": "64"}


def light_options(method):
    return [arg for name, value in LIGHT.items() if name in methods.METHODS[method].options
            for arg in (f"--{name}", value)]


def test_every_method_explains_a_nested_keras_file_on_a_folder(user_files, tmp_path, capsys):
    """The issue's "done when": every registered method, from the CLI, in one process."""
    from xaitools import data, models

    clf = models.load_model(str(user_files / "tiny.keras"), preprocess="unit", class_names=CLASSES)
    names = ["a.jpg", "b.png", "c.bmp", "d.png"]  # sorted; notes.txt skipped
    images = [data.load_image(user_files / "images" / n) for n in names]
    probs = np.concatenate([clf.predict(im) for im in images])
    maps = {}
    for method in methods.METHODS:
        outdir = tmp_path / "out"
        argv = ["explain", str(user_files / "images"), "--model", str(user_files / "tiny.keras"), "--preprocess",
                "unit", "--classes", str(user_files / "classes.txt"), "--method", method, "--outdir", str(outdir),
                "--json", "--batch-size", "3"] + light_options(method)
        records, err = run_json(argv, capsys)
        assert [Path(r["image"]).name for r in records] == names
        assert "4/4" in err  # the progress bar, on stderr
        for record, image, p in zip(records, images, probs):
            assert set(record) >= {"image", "model", "method", "class", "class_index", "probability", "layer",
                                   "files", "seconds"}
            assert record["model"] == "tiny" and record["method"] == method
            assert record["class_index"] == int(np.argmax(p)) and record["class"] == CLASSES[record["class_index"]]
            assert record["probability"] == pytest.approx(float(p.max()), abs=1e-5)
            assert record["layer"] == ("c2" if methods.METHODS[method].layer else None)  # inside the nested base
            stem = outdir / f"{Path(record['image']).stem}.{method}"
            assert record["files"] == [str(stem) + ".npy", str(stem) + ".png"]
            m = np.load(record["files"][0])
            assert m.shape == image.shape[:2] and m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1
            assert Image.open(record["files"][1]).size == image.shape[1::-1]
            maps.setdefault(method, []).append(m)
    # known answer: with a GAP -> Dense head, Grad-CAM's pooled gradients are the Dense column / (h w),
    # so after ReLU and normalisation Grad-CAM equals CAM
    for cam_map, gradcam_map in zip(maps["cam"], maps["gradcam"]):
        np.testing.assert_allclose(gradcam_map, cam_map, atol=1e-5)
    expected = {f"{Path(n).stem}.{m}.{ext}" for n in names for m in methods.METHODS for ext in ("npy", "png")}
    assert set(os.listdir(tmp_path / "out")) == expected  # and no temporary files left behind


def test_layer_inside_the_nested_base_and_an_unknown_layer_named_by_the_file(user_files, tmp_path, capsys):
    common = ["explain", str(user_files / "images" / "a.jpg"), "--model", str(user_files / "tiny.keras"),
              "--preprocess", "unit", "--method", "gradcam"]
    records, _ = run_json(common + ["--layer", "c1", "--json"], capsys)
    assert records[0]["layer"] == "c1" and records[0]["class"] in ("0", "1", "2")  # no --classes: indices
    assert cli.main(common + ["--layer", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'nope' is not a conv layer of tiny" in err and "c2" in err and "functional" not in err
    assert len(err.strip().splitlines()) == 1


def test_twenty_images_go_through_the_network_in_batches(user_files, tmp_path, capsys, monkeypatch):
    """The model is loaded once and the images are explained batch_size at a time."""
    from xaitools import models

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.RandomState(2)
    for i in range(20):
        Image.fromarray(rng.randint(0, 256, (20 + i, 30, 3), dtype=np.uint8)).save(folder / f"im{i:02d}.png")
    loads, batches = [], []
    real_load, real_predict = models.load_model, models.ImageClassifier.predict_resized
    monkeypatch.setattr(models, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    monkeypatch.setattr(models.ImageClassifier, "predict_resized",
                        lambda self, batch, *a, **k: batches.append(len(batch)) or real_predict(self, batch, *a, **k))
    argv = ["explain", str(folder), "--model", str(user_files / "tiny.keras"), "--preprocess", "unit",
            "--method", "gradcam", "--json", "--batch-size", "8"]
    records, _ = run_json(argv, capsys)
    assert len(records) == 20 and len(loads) == 1 and batches == [8, 8, 4]


# -- bad input: one line on stderr, exit 2, checked before any computation -------------------------------
def run_cold(argv, cwd=None):
    """cli.main in a fresh interpreter -> (exit code, stderr, whether TensorFlow was imported)."""
    code = ("import sys, json\nfrom xaitools import cli\ntry:\n    rc = cli.main(json.loads(sys.argv[1]))\n"
            "except SystemExit as e:\n    rc = e.code\nprint(json.dumps([rc, 'tensorflow' in sys.modules]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)
    rc, tf = json.loads(proc.stdout.strip().splitlines()[-1])
    return rc, proc.stderr, tf


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["explain", "cat_dog.jpg", "--out", "/nonexistent/x.png"], "the folder /nonexistent does not exist"),
        (["explain", "cat_dog.jpg", "--out", "x.xyz"], "cannot write .xyz"),
        (["explain", "cat_dog.jpg", "--heatmap-out", "{tmp}"], "is a folder; give a file name such as"),
        (["explain", "missing.png"], "'missing.png' is neither a file, a folder"),
        (["explain", "{tmp}"], "has no images"),
        (["explain", "cat_dog.jpg", "--model", "resnet"], "dog_breeds, inception_v3, vgg16"),
        (["explain", "cat_dog.jpg", "--model", "{tmp}/m.keras"], "no such file"),
        (["explain", "cat_dog.jpg", "--method", "saliency", "--layer", "out_relu"], "attributes the input pixels"),
        (["explain", "cat_dog.jpg", "--method", "gradcam", "--steps", "3"], "--steps is not an option of gradcam"),
        (["explain", "cat_dog.jpg", "cat-and-dog.jpg", "--out", "x.png"], "use --outdir"),
        (["explain", "cat_dog.jpg", "--method", "nope"], "invalid choice: 'nope'"),
        (["explain", "cat_dog.jpg", "--classes", "{tmp}/none.txt"], "--classes"),
    ],
)
def test_bad_input_fails_in_one_line_before_tensorflow_is_imported(argv, needle, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, err, tf = run_cold(argv, cwd=tmp_path)
    assert rc == 2 and needle in err and not tf, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written (no /tmp.npy next to a folder, no x.png)
    assert not Path(str(tmp_path) + ".npy").exists()


def test_help_does_not_import_tensorflow():
    for argv in (["--help"], ["explain", "--help"]):
        rc, _, tf = run_cold(argv)
        assert rc == 0 and not tf


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["explain", "cat-and-dog.jpg", "--method", "lime", "--class", "tabby"], "unknown class 'tabby'"),
        (["explain", "cat-and-dog.jpg", "--method", "lime", "--class", "42"], "out of range"),
        (["predict", "no-such-file.png"], "neither a file"),
        (["predict", "cat-and-dog.jpg", "--model", "resnet"], "dog_breeds, inception_v3, vgg16"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(argv, needle, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_heatmap_out_without_npy_writes_and_prints_the_real_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["explain", "cat_dog.jpg", "--method", "cam", "--heatmap-out", "map"]) == 0
    out = capsys.readouterr().out
    assert f"map -> {tmp_path / 'map.npy'}" in out
    assert sorted(os.listdir(tmp_path)) == ["map.npy"] and np.load("map.npy").shape == (480, 640)


def test_a_failed_write_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    from xaitools import viz

    def broken(path, image):
        Path(path).write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(viz, "save_image", broken)
    png, hm = tmp_path / "x.png", tmp_path / "x.npy"
    assert cli.main(["explain", "cat_dog.jpg", "--method", "cam", "--out", str(png), "--heatmap-out", str(hm)]) == 2
    assert "disk full" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]  # the map was complete; no partial x.png, no temp file


def test_outdir_refuses_two_images_with_the_same_stem(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / sub / "x.png")
    argv = ["explain", str(tmp_path / "a"), str(tmp_path / "b"), "--outdir", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "would both write x.gradcam" in capsys.readouterr().err


def _run_cli(*args):
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "xaitools", *args], capture_output=True, text=True, env=env, timeout=600)


def test_a_normal_run_shows_no_tensorflow_start_up_notices_and_verbose_does():
    quiet = _run_cli("predict", "cat_dog.jpg", "--top", "1")
    assert quiet.returncode == 0, quiet.stderr
    assert "oneDNN" not in quiet.stderr and "absl" not in quiet.stderr, quiet.stderr
    loud = _run_cli("predict", "cat_dog.jpg", "--top", "1", "--verbose")
    assert loud.returncode == 0 and loud.stdout == quiet.stdout


@pytest.mark.parametrize("args, flag", [
    (["explain", "cat_dog.jpg", "--method", "smoothgrad", "--noise", "nan"], "--noise"),
    (["explain", "cat_dog.jpg", "--method", "smoothgrad", "--noise", "inf"], "--noise"),
    (["explain", "cat_dog.jpg", "--method", "lime", "--samples", "0"], "--samples"),
    (["explain", "cat_dog.jpg", "--method", "rise", "--baseline-value", "nan"], "--baseline-value"),
    (["predict", "cat_dog.jpg", "--top", "0"], "--top"),
])
def test_bad_numbers_are_refused_naming_the_flag(args, flag, capsys):
    from xaitools import cli

    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert flag in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bool_options_are_flag_and_no_flag():
    from xaitools import cli

    parser = cli._parser()
    assert parser.parse_args(["explain", "x", "--normalize-alphas"]).opt_normalize_alphas is True
    assert parser.parse_args(["explain", "x", "--no-normalize-alphas"]).opt_normalize_alphas is False


def test_no_command_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "required" in err and "--help" in err and len(err.strip().splitlines()) == 1, err


def test_an_input_size_below_one_is_refused_before_the_model_is_looked_at(tmp_path, capsys):
    argv = ["explain", "cat_dog.jpg", "--model", str(tmp_path / "m.keras"), "--preprocess", "unit", "--input-size", "0", "5"]
    assert cli.main(argv) == 2
    assert "--input-size must be two positive ints (height width), got 0 5" in capsys.readouterr().err


def test_stderr_works_again_after_the_quiet_tensorflow_import():
    code = ("import sys\nfrom xaitools import cli_checks\ncli_checks.import_tensorflow()\n"
            "print('tensorflow' in sys.modules)\nprint('written after the import', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0 and proc.stdout.split() == ["True"], proc.stderr
    assert proc.stderr.strip().splitlines()[-1:] == ["written after the import"], proc.stderr


def test_out_that_is_a_folder_and_a_model_file_without_preprocess_are_refused(tmp_path):
    """Two checks no other case reaches (mutation run 2's survivors cli_checks:57 and :119)."""
    from xaitools import cli_checks

    with pytest.raises(cli_checks.UsageError, match=r"--out .* is a folder; give a file name such as .*overlay\.png"):
        cli_checks.check_overlay_path(str(tmp_path))
    model_file = tmp_path / "m.keras"
    model_file.write_bytes(b"not read: the check comes first")
    with pytest.raises(cli_checks.UsageError, match=r"needs --preprocess, the input scaling it was trained with"):
        cli_checks.check_model(str(model_file), None, None)
    cli_checks.check_model(str(model_file), "unit", None)  # with --preprocess it is taken
