import numpy as np
import pytest

from xaitools import cli


def test_predict_prints_the_top_classes(capsys):
    assert cli.main(["predict", "cat-and-dog.jpg", "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Labrador_retriever") and "n02099712" in lines[0]


def test_explain_lime_writes_heatmap_and_overlay(tmp_path, capsys):
    hm, png = tmp_path / "map.npy", tmp_path / "overlay.png"
    args = ["explain", "cat-and-dog.jpg", "--method", "lime", "--samples", "40", "--class", "Labrador_retriever"]
    assert cli.main(args + ["--heatmap-out", str(hm), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Labrador_retriever (class 7" in out
    heatmap = np.load(hm)
    assert heatmap.shape == (523, 500) and heatmap.dtype == np.float32  # the image's own H x W
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    from PIL import Image

    assert Image.open(png).size == (500, 523)


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
    assert needle in capsys.readouterr().err
