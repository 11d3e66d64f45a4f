"""xaitools: the small library behind the executable book on explaining image classifiers.

One module per method; each module's functions are the chapter's steps.

- :mod:`xaitools.api` -- ``explain(model, images, method=...)``, also ``xaitools.explain``
- :mod:`xaitools.methods` -- the registry of methods shared by the API and the command line
- :mod:`xaitools.data` -- named assets (the text's images, the ImageNet class index), offline
  mirror, cache, ``load_image``, the cats-vs-dogs data set
- :mod:`xaitools.models` -- ``ImageClassifier``, ``load()`` a chapter's model, ``flatten_model``;
  :mod:`xaitools.custom` -- ``load_model`` (also ``xaitools.load_model``) for your own Keras model;
  :mod:`xaitools.zoo` -- the built-in networks and their weights
- :mod:`xaitools.lime` -- LIME for images, step by step
- :mod:`xaitools.saliency` -- pixel attribution: vanilla gradient, SmoothGrad, Integrated Gradients
- :mod:`xaitools.cam` -- class activation maps; ``BaseCAM``, the core shared with Grad-CAM;
  :mod:`xaitools.cam_training` -- the CAM chapter's model and training
- :mod:`xaitools.gradcam` -- Grad-CAM: the CAM core with pooled-gradient channel weights
- :mod:`xaitools.cams` -- Grad-CAM++, Layer-CAM, Score-CAM, Eigen-CAM on the same core
- :mod:`xaitools.perturbation` -- occlusion and RISE
- :mod:`xaitools.metrics` -- deletion/insertion, randomization sanity check, pointing game
- :mod:`xaitools.regions` -- the book's boxes in relative coordinates, mass inside a box
- :mod:`xaitools.viz` -- heatmap overlays

Importing xaitools imports no TensorFlow and sets no TensorFlow environment variable: oneDNN's
fast CPU path stays on unless the caller turns it off (``TF_ENABLE_ONEDNN_OPTS=0`` before
TensorFlow is first imported), and TensorFlow's log level is the caller's.
"""

__version__ = "0.1.0"

DEFAULT_SEED = 222  # the text's ``np.random.seed(222)``


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic.

    Calls ``keras.utils.set_random_seed`` (Python ``random``, NumPy's global
    generator, TF) and ``tf.config.experimental.enable_op_determinism()``.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# -- The front door, imported on first use (``import xaitools`` imports no TensorFlow) -------------
_LAZY = {"explain": ("xaitools.api", "explain"), "load_model": ("xaitools.models", "load_model")}


def __getattr__(name):
    """``xaitools.explain`` and ``xaitools.load_model``, imported when first used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'xaitools' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
