"""Command line: ``python -m xaitools predict|explain IMAGE ...`` (IMAGE: asset name, path or URL)."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

LIME_SIZE = (299, 299)  # the text's working size for LIME
LIME_SAMPLES = 150  # the text's num_perturb
SMOOTHGRAD_SAMPLES = 25


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xaitools", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="print the top classes for an image")
    pr.add_argument("image", help="asset name (e.g. cat-and-dog.jpg), file path or URL")
    pr.add_argument("--model", default=None, help="dog_breeds (default), inception_v3 or vgg16")
    pr.add_argument("--top", type=int, default=5)

    ex = sub.add_parser("explain", help="explain the model's prediction for an image")
    ex.add_argument("image", help="asset name (e.g. cat-and-dog.jpg), file path or URL")
    ex.add_argument("--method", required=True, choices=sorted(METHODS))
    ex.add_argument("--model", default=None, help="dog_breeds (default), inception_v3 or vgg16")
    ex.add_argument("--class", dest="cls", default=None, help="class name, WordNet id or index (default: top class)")
    ex.add_argument("--samples", type=int, default=None,
                    help="LIME: number of perturbations (default 150); smoothgrad: noisy copies (default 25)")
    ex.add_argument("--layer", default=None, help="cam, gradcam: the conv layer (default: the model's last conv layer)")
    ex.add_argument("--steps", type=int, default=64, help="ig: integration steps (default 64)")
    ex.add_argument("--baseline", default="black", choices=["black", "blurred"], help="ig: the baseline image")
    ex.add_argument("--seed", type=int, default=222)
    ex.add_argument("--out", default=None, help="write the overlay picture here (PNG/JPEG)")
    ex.add_argument("--heatmap-out", default=None, help="write the map (.npy, float in [0, 1], image's H x W)")
    return p


def _load_model(name, method):
    from xaitools import models

    chapter = {"smoothgrad": "saliency", "ig": "saliency"}.get(method, method)  # one chapter, three methods
    return models.load(name, chapter=chapter)


def cmd_predict(args) -> int:
    from xaitools import data

    image = data.load_image(args.image)
    model = _load_model(args.model, "lime")
    for wnid, name, prob in model.decode(model.predict(image), top=args.top)[0]:
        print(f"{name:32s} {wnid}  {prob:.4f}")
    return 0


# Each method: (model, image in [0, 1], class index, parsed args) -> heatmap, a 2-D float array in
# [0, 1] at the image's own height x width.
def explain_lime(model, image, cls, args):
    """LIME at the text's working size (299x299), mapped back to the image's own size."""
    from skimage.transform import resize

    from xaitools import lime, viz

    small = resize(image, LIME_SIZE).astype(np.float32)
    exp = lime.explain(small, model.predict, cls, num_perturb=args.samples or LIME_SAMPLES,
                       hide_color=0.5, random_state=args.seed)
    return viz.resize_map(exp.heatmap(), image.shape[:2], nearest=True)


def _full_size(small_map, shape):
    """A 2-D map at the network's resolution -> the image's H x W (bilinear), in [0, 1] with maximum 1."""
    from xaitools import viz

    m = np.clip(viz.resize_map(small_map, shape[:2]), 0, None)
    peak = m.max()
    return m / peak if peak > 0 else m


def _conv_map(explainer_class, model, image, cls, args):
    """CAM or Grad-CAM at the last conv layer (or --layer), upsampled to the image."""
    explainer = explainer_class(model.model, args.layer or model.last_conv_layer)
    return _full_size(explainer.compute_maps(model.preprocess(image), cls)[0], image.shape)


def explain_gradcam(model, image, cls, args):
    """Grad-CAM: channel weights from pooled gradients; any CNN."""
    from xaitools.gradcam import GradCAM

    return _conv_map(GradCAM, model, image, cls, args)


def explain_cam(model, image, cls, args):
    """CAM: channel weights from the final Dense layer; the model must end in GAP -> Dense."""
    from xaitools.cam import CAM

    return _conv_map(CAM, model, image, cls, args)


def _pixels(model, image, cls, args, attribute):
    """Shared by the pixel methods: attribute(x, class) -> (1, h, w, 3) -> |.|, max over channels, normalised."""
    from xaitools import saliency

    if args.layer:
        raise ValueError(f"--layer is for cam and gradcam; {args.method} attributes the input pixels")
    return _full_size(saliency.saliency_map(attribute(model.preprocess(image), cls))[0], image.shape)


def explain_saliency(model, image, cls, args):
    """The vanilla gradient (the text's pure gradient) of the class logit w.r.t. the input pixels."""
    from xaitools import saliency

    return _pixels(model, image, cls, args, lambda x, c: saliency.vanilla_gradient(model, x, c))


def explain_smoothgrad(model, image, cls, args):
    """SmoothGrad: the gradient averaged over --samples noisy copies (default 25)."""
    from xaitools import saliency

    n = args.samples or SMOOTHGRAD_SAMPLES
    return _pixels(model, image, cls, args, lambda x, c: saliency.smoothgrad(model, x, c, samples=n, seed=args.seed))


def explain_ig(model, image, cls, args):
    """Integrated Gradients from a black or blurred --baseline in --steps steps."""
    from xaitools import saliency

    return _pixels(model, image, cls, args, lambda x, c: saliency.integrated_gradients(
        model, x, c, baseline=args.baseline, steps=args.steps))


METHODS = {
    "lime": explain_lime,
    "cam": explain_cam,
    "gradcam": explain_gradcam,
    "saliency": explain_saliency,
    "smoothgrad": explain_smoothgrad,
    "ig": explain_ig,
}


def cmd_explain(args) -> int:
    from xaitools import data, viz

    if args.samples is not None and args.samples < 1:
        raise ValueError("--samples must be at least 1")
    from xaitools import seed_everything

    seed_everything(args.seed)
    image = data.load_image(args.image)
    model = _load_model(args.model, args.method)
    probs = model.predict(image)[0]
    cls = int(np.argmax(probs)) if args.cls is None else model.class_index(args.cls)
    heatmap = METHODS[args.method](model, image, cls, args)
    prob = float(probs[cls])
    print(f"{args.method}: {model.class_names[cls]} (class {cls}, p={prob:.4f}) with {model.name}")
    if args.heatmap_out:
        np.save(args.heatmap_out, heatmap.astype(np.float32))
        print(f"heatmap -> {os.path.abspath(args.heatmap_out)}  shape {heatmap.shape}")
    if args.out:
        viz.save_image(args.out, viz.overlay(image, heatmap))
        print(f"overlay -> {os.path.abspath(args.out)}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"predict": cmd_predict, "explain": cmd_explain}[args.command](args)
    except (ValueError, KeyError, IndexError, TypeError, FileNotFoundError, RuntimeError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
