"""Grad-CAM speed: xaitools batched vs one image at a time vs tf-keras-vis vs a bare forward+backward pass.

32 images (random crops and flips of the text's two pictures), the default dog-breed model
(MobileNetV2, 160x160, last conv layer ``out_relu``), each image's top class. Every timing is the
best of ``--repeats`` (3) rounds after one warm-up round (the methods take turns within a round, so a
busy machine slows them alike); all of them need the gradient of the class logit w.r.t. the
5x5x1280 feature maps of the 32 images.

- forward+backward (floor): a ``tf.GradientTape`` of the class logits w.r.t. the feature maps and
  nothing else (no pooling, weighting, ReLU or normalisation), compiled with ``tf.function`` as
  xaitools' own gradient step is; the same pass run eagerly is shown too
- xaitools batched:        ``GradCAM.compute_maps(x, classes)``, one call for the 32 images
- xaitools one at a time:  the same, 32 calls of one image
- tf-keras-vis 0.8.7:      ``Gradcam(flat_model, ReplaceToLinear())(CategoricalScore(classes), x,
  penultimate_layer="out_relu", seek_penultimate_conv_layer=False, expand_cam=False)`` (eager)

Run: ``XAITOOLS_MIRROR=... python benchmarks/gradcam_bench.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of_rounds, images, load_average  # noqa: E402

N_IMAGES = 32


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each line as soon as it is measured

    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    import xaitools
    from xaitools import gradcam, models

    xaitools.seed_everything(222)
    model = models.load(chapter="gradcam")
    layer = model.last_conv_layer
    pictures = images(N_IMAGES, model.input_size)
    x = model.preprocess(pictures)
    classes = np.argmax(model.predict(pictures), axis=-1)
    gc = gradcam.GradCAM(model.model, layer)
    vis = Gradcam(models.flatten_model(model.model), model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore(classes.tolist())

    def batched():
        return gc.compute_maps(x, classes)

    def one_at_a_time():
        return np.concatenate([gc.compute_maps(x[i : i + 1], int(c)) for i, c in enumerate(classes)])

    def tf_keras_vis():
        return np.asarray(vis(score, x, penultimate_layer=layer, seek_penultimate_conv_layer=False, expand_cam=False))

    xt, ct = tf.constant(x), tf.constant(classes, tf.int64)

    def pass_(images, cls):  # input -> feature maps and logits -> d logit / d feature maps
        with tf.GradientTape() as tape:
            feature_maps, _, pre = gc.gradmodel(images, training=False)
            logits = pre @ gc.kernel + gc.bias
            y = tf.gather(logits, cls, axis=1, batch_dims=1)
        # the feature maps are returned too: Grad-CAM needs them, and without them the graph
        # optimiser drops the whole forward pass (behind a GAP -> Dense head the gradient is constant)
        return tape.gradient(y, feature_maps), feature_maps

    compiled_pass = tf.function(pass_)

    def forward_backward():
        return [t.numpy() for t in compiled_pass(xt, ct)]

    def forward_backward_eager():
        return [t.numpy() for t in pass_(xt, ct)]

    ours, single, theirs = batched(), one_at_a_time(), tf_keras_vis()
    corr = min(np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, theirs))
    print(f"{len(x)} images {x.shape[1]}x{x.shape[2]}, model {model.name}, layer {layer} {gc.cammodel.outputs[0].shape[1:]}, "
          f"TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (on)')}, "
          f"best of {args.repeats}, {load_average()}")
    print(f"check: batched vs one at a time max |diff| {np.abs(ours - single).max():.1e}; "
          f"min correlation with tf-keras-vis {corr:.6f}")

    rows = {
        "forward+backward (floor)": forward_backward,
        "forward+backward, eager": forward_backward_eager,
        "xaitools batched": batched,
        "xaitools one at a time": one_at_a_time,
        "tf-keras-vis Gradcam": tf_keras_vis,
    }
    times = best_of_rounds(rows, args.repeats)
    print(f"timed with {load_average()}")
    floor = times["forward+backward (floor)"]
    print(f"{'method':26s} {'seconds':>8s} {'ms/image':>9s} {'x floor':>8s}")
    for name, t in times.items():
        print(f"{name:26s} {t:8.3f} {1000 * t / len(x):9.1f} {t / floor:8.2f}")
    print(f"xaitools batched / forward+backward floor {times['xaitools batched'] / floor:.2f}x   (goal: stays at the floor, ~1.0)")
    print(f"xaitools batched vs one at a time: {times['xaitools one at a time'] / times['xaitools batched']:.1f}x faster; "
          f"vs tf-keras-vis: {times['tf-keras-vis Gradcam'] / times['xaitools batched']:.2f}x")


if __name__ == "__main__":
    main()
