"""xaitools: the small library behind the executable book on explaining image classifiers.

One module per method; each module's functions are the chapter's steps.

- :mod:`xaitools.data`   -- named assets (the text's images), offline mirror, cache, ``load_image``,
  the cats-vs-dogs data set
- :mod:`xaitools.models` -- ``load()`` a classifier bundle, ``flatten_model``
- :mod:`xaitools.lime`   -- LIME for images, step by step
- :mod:`xaitools.saliency` -- pixel attribution: vanilla gradient, SmoothGrad, Integrated Gradients
- :mod:`xaitools.cam`    -- class activation maps; ``BaseCAM``, the core shared with Grad-CAM
- :mod:`xaitools.gradcam` -- Grad-CAM: the CAM core with pooled-gradient channel weights
- :mod:`xaitools.viz`    -- heatmap overlays
"""

import os as _os

# Quiet, reproducible TensorFlow on CPU. Must happen before TensorFlow is imported:
# oneDNN's reordered float sums make results differ in the last digits between CPUs (and it
# prints a timestamped notice on import that would end up in notebook outputs). Level 3 also hides
# the C++ "NodeDef mentions attribute use_unbounded_threadpool" line that TF 2.21's tf.data logs
# (as an error, harmlessly) under model.fit/predict; Python exceptions are not affected.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

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
