"""The CAM family beyond Grad-CAM, each a small subclass of the CAM core (:class:`~xaitools.core.cam.BaseCAM`).

Every map is ``ReLU(sum_k w_k A^k)`` divided by its maximum (the CAM core, :mod:`xaitools.core.cam`), with ``A`` (N, h, w, K) the feature maps
of ``layer``; the methods differ only in the weights ``w`` (:meth:`get_cam_weights`):

- :class:`GradCAMPlusPlus` (Chattopadhyay et al. 2018): per channel, the positive gradients weighted by
  the closed-form ``alpha`` of the paper's eq. 19 (``S`` the logit, ``Y = exp(S)``).
- :class:`LayerCAM` (Jiang et al. 2021): per position and channel, ``ReLU(dS/dA^k_ij)``; no pooling,
  so it works on earlier, high-resolution layers too.
- :class:`ScoreCAM` (Wang et al. 2020): per channel, the class probability of the input multiplied by
  the channel's upsampled, min-max normalised map (one forward pass per channel, batched);
  ``max_channels`` keeps only the channels whose maps vary most (Faster-Score-CAM).
- :class:`EigenCAM` (Muhammad & Yeasin 2020): the first principal component of the feature maps.
  **Class-agnostic**: the same map whatever class is asked for.

All take a batch already preprocessed for the network, ``x`` (N, H, W, C), and ``classes`` (an int or
one per image; Grad-CAM++ and Layer-CAM also take one image with several classes, as Grad-CAM does).
"""

from __future__ import annotations

import numpy as np

from xaitools.core.cam import BaseCAM, GradientCAM
from xaitools.core.scores import check_output, score_function


class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++: ``w_k = sum_ij alpha^k_ij ReLU(g^k_ij)`` with ``g = dS/dA`` (S: the class logit) and

    ``alpha^k_ij = g_ij^2 / (2 g_ij^2 + sum_ab A^k_ab g_ij^3)`` (0 where ``g_ij = 0``),

    the paper's eq. 19 for ``Y = exp(S)`` (the exponential cancels; pytorch-grad-cam computes the same).
    The authors' reference code and tf-keras-vis also divide ``alpha^k`` by its sum over positions
    (``normalize_alphas=True``); then ``w_k`` is a weighted *mean* of the positive gradients instead.
    On a GAP -> Dense head (logit ``S = sum_k v_k mean(A^k) + b``) the weights are
    ``ReLU(v_k) / (2 + v_k mean(A^k))``, or ``ReLU(v_k) / (h w)`` with ``normalize_alphas``.

    Args:
        model (keras.Model or ImageClassifier): the classifier.
        layer (str): the conv layer (also one inside a nested sub-model).
        output (str): ``"logit"`` (default, as the paper) or ``"probability"``.
        batch_size (int): images per compiled forward + backward pass. Default 64.
        normalize_alphas (bool): divide alpha by its spatial sum, as the authors' code. Default False.
    """

    def __init__(self, model, layer: str, output: str = "logit", batch_size: int = 64, normalize_alphas: bool = False):
        super().__init__(model, layer, output=output, batch_size=batch_size)
        self.normalize_alphas = bool(normalize_alphas)

    def get_cam_weights(self, images, classes):
        """-> (weights (N, K), feature maps (N, h, w, K), predictions (N, C))."""
        grads, feature_maps, predictions = self.gradients(images, classes)
        g = grads.astype(np.float64)
        g2, g3 = g**2, g**3
        total = feature_maps.sum(axis=(1, 2), keepdims=True, dtype=np.float64)  # sum_ab A^k_ab, (N, 1, 1, K)
        denom = 2 * g2 + total * g3
        alphas = np.where(g != 0, g2 / np.where(denom != 0, denom, 1), 0.0)
        if self.normalize_alphas:
            norm = alphas.sum(axis=(1, 2), keepdims=True)
            alphas = alphas / np.where(norm != 0, norm, 1)
        weights = (alphas * np.maximum(g, 0)).sum(axis=(1, 2))
        return weights.astype(np.float32), feature_maps, predictions


class LayerCAM(GradientCAM):
    """Layer-CAM: ``map_ij = ReLU(sum_k ReLU(g^k_ij) A^k_ij)``, ``g = dS/dA`` (S: the class logit).

    Each position keeps its own positive gradient (no spatial pooling), so the map stays faithful on
    earlier layers, whose gradients vary across the image. On a GAP -> Dense head (``g^k_ij = v_k / (h
    w)``) it is CAM with the negative weights set to 0: ``sum_k ReLU(v_k) A^k``.

    Args:
        model (keras.Model or ImageClassifier): the classifier.
        layer (str): any layer with 4-D output (N, h, w, K).
        output (str): ``"logit"`` (default) or ``"probability"``.
        batch_size (int): images per compiled forward + backward pass. Default 64.
    """

    def get_cam_weights(self, images, classes):
        """-> (weights (N, h, w, K) = ReLU(gradients), feature maps (N, h, w, K), predictions (N, C))."""
        grads, feature_maps, predictions = self.gradients(images, classes)
        return np.maximum(grads, 0), feature_maps, predictions


class ScoreCAM(BaseCAM):
    """Score-CAM: ``w_k = f_c(x * M^k)``, ``M^k`` the channel's map upsampled to the input (bilinear) and
    min-max normalised to [0, 1], ``f_c`` the class probability.

    The masked inputs of an image go through the network in batches of ``batch_size`` channels.
    Exact shortcuts: an all-zero channel adds nothing to the map, so it is not run; channels constant
    over the map all get the score of ``x * 0`` (one pass). Masks multiply the network input, so hidden
    pixels are 0 in the network's input space (as in the paper, pytorch-grad-cam and tf-keras-vis).

    Args:
        model (keras.Model or ImageClassifier): the classifier.
        layer (str): the conv layer.
        max_channels (int or None): Faster-Score-CAM: per image, score only the ``max_channels`` channels
            whose maps have the largest variance over (h, w); the others get weight 0. None or 0: all
            channels (default).
        output (str): ``"probability"`` (default, the paper's softmax score) or ``"logit"``.
        batch_size (int): masked inputs per forward pass. Default 64.
    """

    def __init__(self, model, layer: str, max_channels: int | None = None, output: str = "probability",
                 batch_size: int = 64):
        check_output(output)
        if max_channels is not None and (isinstance(max_channels, bool) or int(max_channels) != max_channels
                                         or max_channels < 0):
            raise ValueError(f"max_channels must be a positive int, or None/0 for all channels; got {max_channels!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        super().__init__(getattr(model, "model", model), layer)
        self.max_channels = int(max_channels) if max_channels else None
        self.output, self.batch_size = output, int(batch_size)
        self.score = score_function(self.model, output)
        self._masked = None

    def _masked_graph(self, x1, a, c):
        """x1 (1, H, W, C), a (1, h, w, b) non-constant channels, c class -> f_c(x1 * M^k), shape (b,)."""
        import tensorflow as tf

        up = tf.image.resize(a, tf.shape(x1)[1:3], method="bilinear")  # (1, H, W, b)
        lo = tf.reduce_min(up, axis=(1, 2), keepdims=True)
        hi = tf.reduce_max(up, axis=(1, 2), keepdims=True)
        masks = tf.transpose((up - lo) / tf.maximum(hi - lo, 1e-12), [3, 1, 2, 0])  # (b, H, W, 1)
        return tf.gather(self.score(x1 * masks), c, axis=1)

    def channels(self, feature_maps) -> np.ndarray:
        """The channels Score-CAM scores for one image's maps (h, w, K): all, or the ``max_channels``
        with the largest spatial variance. Returns their indices (sorted)."""
        var = feature_maps.reshape(-1, feature_maps.shape[-1]).var(axis=0)
        if self.max_channels is None or self.max_channels >= len(var):
            return np.arange(len(var))
        return np.sort(np.argsort(-var, kind="stable")[: self.max_channels])

    def get_cam_weights(self, images, classes):
        """-> (weights (N, K), feature maps (N, h, w, K), predictions (N, C))."""
        import tensorflow as tf

        if self._masked is None:  # one trace for any image size and number of channels
            spec = tf.TensorSpec([1, None, None, None], tf.float32)
            self._masked = tf.function(self._masked_graph, input_signature=[spec, spec, tf.TensorSpec([], tf.int64)])
        feature_maps, predictions = self.features(images, self.batch_size)
        weights = np.zeros((len(feature_maps), feature_maps.shape[-1]), np.float32)
        for n, (x1, a, c) in enumerate(zip(images, feature_maps, classes)):
            chosen = self.channels(a)
            flat = a.reshape(-1, a.shape[-1])[:, chosen]
            varying = chosen[flat.max(axis=0) > flat.min(axis=0)]
            constant = chosen[(flat.max(axis=0) == flat.min(axis=0)) & (flat.max(axis=0) != 0)]
            if len(constant):  # the mask is 0 everywhere: the score of x * 0
                weights[n, constant] = self.score.forward(np.zeros_like(x1[None]))[0, c]
            xt, ct = tf.constant(x1[None]), tf.constant(int(c), tf.int64)
            for i in range(0, len(varying), self.batch_size):
                k = varying[i : i + self.batch_size]
                weights[n, k] = np.asarray(self._masked(xt, tf.constant(a[None][..., k]), ct))
        return weights, feature_maps, predictions


class EigenCAM(BaseCAM):
    """Eigen-CAM: the feature maps projected on their first principal direction. **Class-agnostic**:
    ``classes`` is accepted for a uniform interface and ignored; every class gets the same map.

    Per image, ``A`` reshaped to (h w, K) has the singular value decomposition ``U S V^T``; the weights
    are ``v_1``, the first right singular vector (uncentred, as in the paper; pytorch-grad-cam subtracts
    the channel means first). The sign of ``v_1`` is arbitrary; it is chosen so that the projection is
    positive where the activations are large (``sum_ij (A v_1)_ij ||A_ij|| > 0``).

    Args:
        model (keras.Model or ImageClassifier): the classifier.
        layer (str): the conv layer.
        batch_size (int): images per compiled forward pass. Default 64.
    """

    def __init__(self, model, layer: str, batch_size: int = 64):
        super().__init__(getattr(model, "model", model), layer)
        self.batch_size = int(batch_size)

    def class_indices(self, classes, n: int) -> np.ndarray:
        """``classes`` is ignored (None allowed); checked only when given."""
        return np.zeros(n, np.int64) if classes is None else super().class_indices(classes, n)

    def compute_maps(self, images, classes=None, relu: bool = True) -> np.ndarray:
        """Maps (N, h, w) in [0, 1]; ``classes`` is ignored (see the class docstring)."""
        return super().compute_maps(images, classes, relu=relu)

    def get_cam_weights(self, images, classes):
        """-> (weights (N, K) = the signed first principal direction, feature maps, predictions)."""
        feature_maps, predictions = self.features(images, self.batch_size)
        n, h, w, k = feature_maps.shape
        flat = feature_maps.reshape(n, h * w, k).astype(np.float64)
        # v_1 from the smaller Gram matrix (LAPACK's SVD of a wide 25 x 1280 matrix is ~100x slower)
        if h * w < k:  # A A^T u_1 = s_1^2 u_1 and v_1 = A^T u_1 / s_1
            u = np.linalg.eigh(flat @ flat.transpose(0, 2, 1))[1][..., -1]  # (N, hw)
            v = np.einsum("npk,np->nk", flat, u)
            norm = np.linalg.norm(v, axis=-1, keepdims=True)
            v = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)  # all-zero maps: v = 0, map 0
        else:  # A^T A v_1 = s_1^2 v_1
            v = np.linalg.eigh(flat.transpose(0, 2, 1) @ flat)[1][..., -1]  # (N, K)
        size = np.linalg.norm(flat, axis=-1)  # (N, hw): how large the activations are at each position
        sign = np.sign(np.einsum("npk,nk,np->n", flat, v, size))
        return (v * np.where(sign == 0, 1, sign)[:, None]).astype(np.float32), feature_maps, predictions


__all__ = ["GradCAMPlusPlus", "LayerCAM", "ScoreCAM", "EigenCAM"]
