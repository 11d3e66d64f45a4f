"""The committed study (``study/dog_breeds.sqlite``, made by ``make study``) reproduced on a subset.

A few images and methods are run again with the committed settings and seeds, and every per-image
number is compared with the committed row. Rows do not depend on which other images or methods a
run holds (each map, random reference and ROAD noise has its own seeded stream), so a subset run
must give the committed rows up to floating-point noise. The tolerance, ``TOL``, allows for another
CPU or BLAS (the network's output in the last digits); a changed method, metric or seed moves these
numbers by far more (tested below: the same comparison fails with another seed).
"""

from pathlib import Path

import pytest

from xaitools import study

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "study" / "dog_breeds.sqlite"
IMAGES = 3
METHODS = ["gradcam", "smoothgrad", "lime", "occlusion"]  # a CAM, a seeded gradient, a seeded sampler, a sweep
TOL = {"deletion": 0.01, "insertion": 0.01, "road_morf": 0.01, "road_lerf": 0.01, "rand_rho": 0.05}


def committed():
    if not COMMITTED.exists():
        pytest.fail(f"{COMMITTED} is missing: `make study` writes it")
    store = study.Store(COMMITTED)
    return store, store.get("settings"), dict(store.db.execute("SELECT name, sha256 FROM images"))


def subset_folder(tmp_path, hashes):
    """Links to the committed study's first images, found in the cats-vs-dogs validation split;
    skips if these pictures are not here (the public zip holds other dog photos than the mirror)."""
    from xaitools import data

    dogs = data.cats_and_dogs_dir() / "validation" / "dogs"
    folder = tmp_path / "dogs"
    folder.mkdir()
    for name in sorted(hashes)[:IMAGES]:
        src = dogs / name
        if not src.exists() or data.sha256sum(src) != hashes[name]:
            pytest.skip(f"the committed study's image {name} is not in {dogs} (other data than the study's)")
        (folder / name).symlink_to(src)
    return folder


def rerun(tmp_path, settings, folder, seed=None, methods=METHODS):
    out = tmp_path / f"subset-{seed}.sqlite"
    study.run(folder, "dog_breeds", methods, images=IMAGES, out=out, seed=settings["seed"] if seed is None else seed,
              options={m: settings["options"][m] for m in methods}, steps=settings["steps"],
              baseline=settings["baseline"], percentiles=settings["road_percentiles"],
              road_noise=settings["road_noise"], sanity_images=min(settings["sanity_images"], IMAGES),
              sanity_seeds=settings["sanity_seeds"], batch_size=settings["batch_size"], progress=False)
    return {(r["image"], r["method"]): r for r in study.Store(out).rows()}


def differences(got, want):
    """(image, method, metric, got, committed) for every number outside TOL."""
    bad = []
    for key, row in got.items():
        for metric, tol in TOL.items():
            a, b = row[metric], want[key][metric]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > tol):
                bad.append((*key, metric, a, b))
    return bad


def test_a_subset_of_the_committed_study_reproduces_its_rows(tmp_path):
    store, settings, images = committed()
    assert set(METHODS) <= set(settings["methods"])
    folder = subset_folder(tmp_path, images)
    want = {(r["image"], r["method"]): r for r in store.rows()}
    got = rerun(tmp_path, settings, folder)
    assert len(got) == IMAGES * (len(METHODS) + 1)  # + the random reference
    assert differences(got, want) == []
    # the comparison can fail: another study seed (other random maps, ROAD noise, randomized weights)
    other = rerun(tmp_path, settings, folder, seed=settings["seed"] + 1, methods=["gradcam"])
    assert len(differences(other, want)) > 3
