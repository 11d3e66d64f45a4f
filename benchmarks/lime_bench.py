"""LIME speed: the text's loop vs xaitools vs the `lime` package vs the pure batched forward pass.

Same image (the text's cat-and-dog.jpg at 299x299), same model (default: dog_breeds), same
superpixels, N = 150 and N = 1000 perturbations. Prints each time (best of --repeats) and the ratios.
Run:  XAITOOLS_MIRROR=... python benchmarks/lime_bench.py
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

import xaitools
from xaitools import data, lime, models


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def text_perturb_image(img, perturbation, segments):  # the text's function, indentation repaired
    active_pixels = np.where(perturbation == 1)[0]
    mask = np.zeros(segments.shape)
    for active in active_pixels:
        mask[segments == active] = 1
    perturbed_image = copy.deepcopy(img)
    perturbed_image = perturbed_image * mask[:, :, np.newaxis]
    return perturbed_image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[150, 1000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--text-loop-max", type=int, default=150,
                    help="time the text's loop on at most this many perturbations and scale linearly")
    args = ap.parse_args()

    xaitools.seed_everything(222)
    import skimage.transform
    import tensorflow as tf
    from lime.lime_image import LimeImageExplainer
    from sklearn.linear_model import LinearRegression

    model = models.load(args.model, chapter="lime")
    Xi = (skimage.transform.resize(data.load_image("cat-and-dog.jpg"), (299, 299)) - 0.5) * 2
    superpixels = lime.segment(Xi)
    num_superpixels = int(superpixels.max()) + 1

    def predict_fn(images):  # the text's [-1, 1] space -> probabilities (batched)
        return model.predict(images / 2 + 0.5)

    cls = int(np.argmax(predict_fn(Xi[None])[0]))
    predict_fn(Xi[None].repeat(64, 0))  # warm-up at the batch size used below
    print(f"model {model.name}, {num_superpixels} superpixels, class {model.class_names[cls]}, "
          f"best of {args.repeats}, {xaitools.__name__} batch size 64")

    for n in args.sizes:
        perturbations = lime.sample_perturbations(num_superpixels, n, random_state=0)

        def text_loop(k):  # the text's step 2 + 3 + 4: one perturb_image + predict call per perturbation
            predictions = []
            for pert in perturbations[:k]:
                perturbed_img = text_perturb_image(Xi, pert, superpixels)
                x = model.preprocess(perturbed_img[np.newaxis] / 2 + 0.5)
                predictions.append(model.model.predict(x, verbose=0))
            predictions = np.array(predictions)
            w = lime.kernel_weights(lime.perturbation_distances(perturbations[:k]))
            LinearRegression().fit(perturbations[:k], predictions[:, 0, cls], sample_weight=w)

        def ours():
            lime.explain(Xi, predict_fn, class_index=cls, num_perturb=n, superpixels=superpixels, random_state=0)

        explainer = LimeImageExplainer(kernel_width=0.25, random_state=0)

        def lime_pkg():
            explainer.explain_instance(Xi, predict_fn, labels=(cls,), top_labels=None, hide_color=0,
                                       num_samples=n, batch_size=64, segmentation_fn=lambda _: superpixels,
                                       model_regressor=LinearRegression())

        images = lime.perturb_images(Xi, perturbations, superpixels)  # built outside the timing

        def forward():  # the same N images through the same model call, in the same batches, nothing else
            for i in range(0, n, 64):
                predict_fn(images[i : i + 64])

        inputs = [model.preprocess(images[i : i + 64] / 2 + 0.5) for i in range(0, n, 64)]
        net = tf.function(lambda t: model.model(t, training=False), reduce_retracing=True)

        def network():  # the network alone (compiled) on already resized and scaled inputs
            for x in inputs:
                net(x)

        k = min(n, args.text_loop_max)
        t_text = best_of(lambda: text_loop(k), 1) * n / k
        t_ours, t_lime, t_fwd, t_net = (best_of(f, args.repeats) for f in (ours, lime_pkg, forward, network))
        note = "" if k == n else f" (timed on {k}, scaled x{n / k:.2f})"
        print(f"\nN = {n}")
        print(f"  text loop      {t_text:8.2f} s{note}")
        print(f"  lime 0.2.0.1   {t_lime:8.2f} s")
        print(f"  xaitools       {t_ours:8.2f} s")
        print(f"  forward only   {t_fwd:8.2f} s   (model.predict: resize + scale + network)")
        print(f"  network only   {t_net:8.2f} s   (already resized and scaled inputs)")
        print(f"  text loop / xaitools    {t_text / t_ours:6.2f}x   (target >= 5)")
        print(f"  lime / xaitools         {t_lime / t_ours:6.2f}x   (target >= 1.2)")
        print(f"  xaitools / forward only {t_ours / t_fwd:6.2f}x   (target <= 1.10)")


if __name__ == "__main__":
    main()
