"""Data sources, splits, normalisation and batched augmentation."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from resnet_lab.config import DataConfig
from resnet_lab.data import Batches, ImageTensors, load_data, random_crop_flip
from resnet_lab.data import sources as data_mod
from resnet_lab.errors import UserError

CLASSES = ["cat", "dog", "frog"]


def make_image_folder(root: Path, per_class: int = 4, size: int = 8, fmt: str = "png") -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for i, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True)
            for j in range(per_class):
                arr = np.full((size, size, 3), 40 * i, dtype=np.uint8) + rng.integers(
                    0, 20, (size, size, 3), dtype=np.uint8
                )
                Image.fromarray(arr).save(root / split / cls / f"{j:03d}.{fmt}")
    return root


def test_synthetic_is_deterministic_and_balanced():
    cfg = DataConfig(dataset="synthetic", val_size=100, synthetic_train=500, synthetic_test=100)
    a, b = load_data(cfg), load_data(cfg)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert (len(a.train), len(a.val), len(a.test)) == (400, 100, 100)
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape[1:] == (3, 32, 32)
    assert torch.bincount(a.test.labels, minlength=10).tolist() == [10] * 10


def test_validation_split_is_disjoint_and_independent_of_the_training_seed():
    cfg = DataConfig(dataset="synthetic", val_size=100, synthetic_train=300, train_subset=50)
    d = load_data(cfg)
    assert len(d.train) == 50 and len(d.val) == 100
    full = data_mod.make_synthetic(300, 10)[0]
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(d.val.images, full.images[order[:100]])
    assert torch.equal(d.train.images, full.images[order[100:150]])


def test_normalised_training_batches_have_zero_mean_unit_std():
    d = load_data(DataConfig(dataset="synthetic", val_size=100, synthetic_train=600))
    x, _ = next(
        iter(Batches(d.train, batch_size=500, mean=d.mean, std=d.std, device=torch.device("cpu")))
    )
    assert x.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), padding=st.integers(0, 4))
def test_random_crop_is_a_window_of_the_zero_padded_image(seed, n, padding):
    x = torch.randint(1, 256, (n, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, torch.Generator().manual_seed(seed), padding=padding, flip=False)
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    for i in range(n):
        windows = [
            padded[i, :, r : r + 8, c : c + 8]
            for r in range(2 * padding + 1)
            for c in range(2 * padding + 1)
        ]
        assert any(torch.equal(out[i], w) for w in windows)


def test_crop_without_padding_is_identity_and_flip_mirrors_about_half():
    x = torch.randint(0, 256, (400, 3, 8, 8), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_crop_flip(x, g, padding=0, flip=False), x)
    out = random_crop_flip(x, g, padding=0, flip=True)
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 150 < sum(mirrored) < 250


def test_batches_cover_every_image_once_and_repeat_per_epoch():
    data = ImageTensors(
        torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).clone(),
        torch.arange(10),
    )
    b = Batches(
        data,
        batch_size=4,
        mean=(0.0,),
        std=(1 / 255,),
        device=torch.device("cpu"),
        shuffle=True,
        seed=1,
    )
    assert len(b) == 3
    labels = torch.cat([y for _, y in b])
    assert sorted(labels.tolist()) == list(range(10))
    again = torch.cat([y for _, y in b])
    b.set_epoch(1)
    other = torch.cat([y for _, y in b])
    assert torch.equal(labels, again) and not torch.equal(labels, other)


def test_image_folder_loads_in_class_order_and_is_cached(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "imgs")
    cfg = DataConfig(
        dataset="imagefolder", data_dir=str(root), val_size=3, cache_dir=str(tmp_path / "c")
    )
    d = load_data(cfg)
    assert d.classes == CLASSES
    assert (len(d.train) + len(d.val), len(d.test)) == (12, 12)
    assert d.image_shape == (3, 8, 8)
    assert sorted(torch.bincount(d.test.labels).tolist()) == [4, 4, 4]
    # class 2 images are brighter by construction: labels follow the folder names
    assert (
        d.test.images[d.test.labels == 2].float().mean()
        > d.test.images[d.test.labels == 0].float().mean() + 50
    )

    def refuse(*a, **k):
        raise AssertionError("decoded again although a cache exists")

    monkeypatch.setattr(data_mod, "_decode", refuse)
    d2 = load_data(cfg)
    assert torch.equal(d2.test.images, d.test.images)


def test_image_folder_archive_matches_the_folder(tmp_path):
    root = make_image_folder(tmp_path / "imgs", fmt="jpg")
    archive = tmp_path / "imgs.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="copy")  # one level down, like many published archives
    a = load_data(DataConfig(dataset="imagefolder", data_dir=str(root), val_size=3))
    b = load_data(DataConfig(dataset="imagefolder", data_dir=str(archive), val_size=3))
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.train.labels, b.train.labels)
    assert "JPEG" in b.source


def write_cifar_pickles(root: Path, per_batch: int = 6) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        blob = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(blob))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": data_mod.CIFAR10_CLASSES}))
    return root


def test_cifar_pickle_folder_loads_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    # Our generated files cannot match the real files' md5 sums, which torchvision checks.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    root = write_cifar_pickles(tmp_path / "c10")
    d = load_data(DataConfig(dataset="cifar10", data_dir=str(root), val_size=5, download=False))
    assert (len(d.train), len(d.val), len(d.test)) == (25, 5, 6)
    assert d.classes == data_mod.CIFAR10_CLASSES
    raw = pickle.loads((root / "cifar-10-batches-py" / "test_batch").read_bytes())
    assert torch.equal(d.test.images[0], torch.from_numpy(raw["data"][0].reshape(3, 32, 32)))
    # the batches folder itself is accepted too
    d2 = load_data(
        DataConfig(
            dataset="cifar10",
            data_dir=str(root / "cifar-10-batches-py"),
            val_size=5,
            download=False,
        )
    )
    assert torch.equal(d2.test.images, d.test.images)


@pytest.mark.parametrize(
    "cfg,match",
    [
        ({"dataset": "imagefolder", "data_dir": "/nonexistent/x"}, "does not exist"),
        ({"dataset": "cifar10", "data_dir": "/nonexistent/x"}, "does not exist"),
        ({"dataset": "imagefolder"}, "needs `data.data_dir`"),
        ({"dataset": "synthetic", "val_size": 5000}, "leaves no training or no validation images"),
    ],
)
def test_bad_data_settings_raise_user_errors(cfg, match):
    with pytest.raises(UserError, match=match):
        load_data(DataConfig(**cfg))


def test_image_folder_without_train_and_test_and_with_a_broken_image(tmp_path):
    (tmp_path / "flat" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="no train/ and test/"):
        load_data(DataConfig(dataset="imagefolder", data_dir=str(tmp_path / "flat")))
    root = make_image_folder(tmp_path / "imgs")
    (root / "train" / "cat" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot decode image .*broken.png"):
        load_data(DataConfig(dataset="imagefolder", data_dir=str(root), val_size=2))


def test_cifar_without_local_copy_and_no_download_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="cifar-10-batches-py"):
        load_data(DataConfig(dataset="cifar10", data_dir=str(tmp_path), download=False))


def test_real_cifar10_jpeg_copy_has_the_published_counts(shared_jpeg, tmp_path):
    d = load_data(
        DataConfig(
            dataset="imagefolder",
            data_dir=str(shared_jpeg),
            val_size=5000,
            cache_dir=str(tmp_path / "cache"),
        )
    )
    assert len(d.train) + len(d.val) == 50_000 and len(d.test) == 10_000
    assert d.classes == data_mod.CIFAR10_CLASSES and d.num_classes == 10
    assert torch.bincount(d.test.labels).tolist() == [1000] * 10
    assert d.image_shape == (3, 32, 32)
    # BACKGROUND/README of the copy: per-channel means of about 0.491, 0.482, 0.447
    assert np.allclose(d.mean, (0.491, 0.482, 0.447), atol=0.01)
