"""What ``make study`` needs besides the dog-breed model: the image folders and the CAM chapter's model.

    python tools/study_data.py --out study [--images 100] [--quick]

- ``OUT/dogs/``: links to the first ``--images`` dog photos of the cats-vs-dogs validation split.
- ``OUT/cats_and_dogs/``: links to the first ``--images / 2`` cat and dog photos of that split.
- ``OUT/cats_dogs.keras`` and ``OUT/classes.txt``: the CAM chapter's model, trained as
  ``notebooks/own_model.ipynb`` trains it (frozen MobileNetV2 base of dog_breeds -> GAP ->
  Dense(1, sigmoid), 5 epochs on the training split, ``xaitools.cam.fit``, seed 222), then written
  with a two-class softmax head: Dense(1, sigmoid) with weights w, b becomes Dense(2, softmax) with
  weights (-w/2, w/2), (-b/2, b/2). softmax(-z/2, z/2) = (1 - sigmoid(z), sigmoid(z)) exactly, so the
  model is unchanged, CAM still sees conv -> GAP -> Dense, and "the model's top class" is cat or dog
  for every image (a single sigmoid output has only one class to explain). Skipped if the file exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def link_images(sources, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_symlink():
            old.unlink()
    for src in sources:
        (folder / src.name).symlink_to(src.resolve())
    return len(sources)


def train(out: Path, quick: bool) -> None:
    import keras
    import numpy as np

    import xaitools
    from xaitools import cam, data, models

    xaitools.seed_everything(222)
    base, image_size, preprocess = cam.pretrained_base("dog_breeds")
    keras.backend.clear_session()
    model = cam.CAMmodel(base)
    layer = models.find_target_layer(model)
    x, y = data.cats_and_dogs("train", image_size, per_class=100 if quick else None)
    history = cam.fit(model, preprocess(x), y, layer, epochs=5, batch_size=32)
    print(f"trained on {len(y)} images, accuracy {history.history['accuracy'][-1]:.3f}")
    dense = model.layers[-1]
    w, b = dense.get_weights()
    two = keras.layers.Dense(2, activation="softmax", name="cats_dogs")
    outputs = two(model.layers[-2].output)
    model2 = keras.Model(model.input, outputs, name="cats_dogs")
    two.set_weights([np.concatenate([-w / 2, w / 2], axis=1), np.concatenate([-b / 2, b / 2])])
    probe = preprocess(x[:16])
    diff = np.abs(model2.predict(probe, verbose=0)[:, 1] - model.predict(probe, verbose=0)[:, 0]).max()
    print(f"two-class head == sigmoid head: max |diff| {diff:.1e}")
    assert diff < 1e-5
    model2.save(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="study")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="train on 100 + 100 images (a smoke test)")
    args = ap.parse_args(argv)
    from xaitools import data

    out = Path(args.out)
    val = data.cats_and_dogs_dir() / "validation"
    files = {c: sorted(p for p in (val / c).iterdir() if p.suffix.lower() in data.IMAGE_SUFFIXES)
             for c in data.CATS_DOGS_CLASSES}
    n = link_images(files["dogs"][: args.images], out / "dogs")
    half = args.images // 2
    m = link_images(files["cats"][:half] + files["dogs"][: args.images - half], out / "cats_and_dogs")
    print(f"{out / 'dogs'}: {n} images; {out / 'cats_and_dogs'}: {m} images")
    (out / "classes.txt").write_text("cat\ndog\n")
    model_file = out / "cats_dogs.keras"
    if model_file.exists():
        print(f"{model_file} exists (delete it to retrain)")
    else:
        train(model_file, args.quick)
        print(f"wrote {model_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
