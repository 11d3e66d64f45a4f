"""The internal core that every method shares (layer 1 of the package; see ``tests/test_imports.py``).

- :mod:`~xaitools.core.graph` -- graph walking: the *only* module that touches Keras internals
  (``_keras_history``, ``_inbound_nodes``, ``_run_through_graph``, ``_functional``): flattening nested
  models, the classifier head (:func:`~xaitools.core.graph.split_head`), conv layers, CAM sub-models.
- :mod:`~xaitools.core.checks` -- the input, class, image, superpixel and random-seed checks.
- :mod:`~xaitools.core.scores` -- the class score (logit or probability), the batched compiled forward
  and backward passes, and their cache (a ``WeakKeyDictionary``: nothing is stored on a user's model).
- :mod:`~xaitools.core.maps` -- normalisation of maps to [0, 1], and the one ``make_baseline``.
- :mod:`~xaitools.core.cam` -- the CAM core: ``BaseCAM`` and the gradient CAM base.
- :mod:`~xaitools.core.superposition` -- LIME's perturbed images by superposition.

Nothing here imports TensorFlow or Keras at import time.
"""
