"""Issue 19, the data layer: never wrong data, a one-line error at every bad input, nothing lost.

A cache that cannot lie (symlinked class folders, changed pixels with sizes and mtimes kept, the
dataloader pipeline on the same files, symlink loops), cache failures that only cost speed, bad
folders and archives refused in one line before anything is written, data sets that cannot fit in
memory refused before they are allocated, and --data-dir with synthetic data refused.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_lab.cli import main
from resnet_lab.config import DataConfig, resolve
from resnet_lab.data import cache, load_data, make_batches, memory
from resnet_lab.data import sources as data_mod
from resnet_lab.errors import UserError

CPU = torch.device("cpu")


def write_images(folder: Path, n: int, *, value: int, size=(8, 8), fmt="png", start=0) -> None:
    """``n`` images of ``size`` (width, height) whose pixels sit around ``value``."""
    rng = np.random.default_rng(value * 1000 + start)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    for j in range(start, start + n):
        arr = np.full((h, w, 3), value, dtype=np.uint8) + rng.integers(0, 9, (h, w, 3), np.uint8)
        Image.fromarray(arr).save(folder / f"{j:03d}.{fmt}")


def image_set(root: Path, classes=("a", "b"), train=5, test=2, **kw) -> Path:
    for split, n in (("train", train), ("test", test)):
        for i, cls in enumerate(classes):
            write_images(root / split / cls, n, value=40 + 80 * i, **kw)
    return root


def cfg_for(data_dir: Path, tmp_path: Path, **kw) -> DataConfig:
    return DataConfig(
        dataset="imagefolder",
        data_dir=str(data_dir),
        val_size=2,
        cache_dir=str(tmp_path / "cache"),
        **kw,
    )


def n_train(d) -> int:
    return len(d.train) + len(d.val)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) with its bytes: what must not change."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# ---------------------------------------------------------------- a cache that cannot lie


def test_images_added_behind_a_symlinked_class_folder_are_seen(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_images(elsewhere / "train_b", 10, value=200)
    write_images(elsewhere / "test_b", 2, value=200)
    root = tmp_path / "set"
    write_images(root / "train" / "a", 10, value=40)
    write_images(root / "test" / "a", 2, value=40)
    (root / "train" / "b").symlink_to(elsewhere / "train_b")
    (root / "test" / "b").symlink_to(elsewhere / "test_b")
    cfg = cfg_for(root, tmp_path)
    assert n_train(load_data(cfg)) == 20
    write_images(elsewhere / "train_b", 30, value=200, start=10)
    d = load_data(cfg)
    assert n_train(d) == 50
    assert torch.bincount(torch.cat([d.train.labels, d.val.labels])).tolist() == [10, 40]


def test_changed_pixels_with_sizes_and_mtimes_kept_are_decoded_again(tmp_path):
    root = image_set(tmp_path / "set", fmt="bmp")  # BMP: same size in bytes whatever the pixels
    cfg = cfg_for(root, tmp_path)
    before = load_data(cfg).test.images.clone()
    for path in sorted(root.rglob("*.bmp")):
        st = path.stat()
        with Image.open(path) as img:
            inverted = 255 - np.asarray(img)
        Image.fromarray(inverted).save(path)
        assert path.stat().st_size == st.st_size
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_mtime_ns == st.st_mtime_ns
    after = load_data(cfg).test.images
    assert torch.equal(after, 255 - before)


def test_a_symlink_loop_is_refused_in_one_line(tmp_path):
    root = image_set(tmp_path / "set")
    (root / "train" / "a" / "loop").symlink_to("..")
    with pytest.raises(UserError) as err:
        load_data(cfg_for(root, tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and "train/a/loop is a symlink loop" in msg and "remove that link" in msg
    assert not (tmp_path / "cache").exists()


def test_a_folder_reached_twice_through_symlinks_is_refused(tmp_path):
    root = image_set(tmp_path / "set")
    (root / "train" / "c").symlink_to(root / "train" / "a")  # a's images would count twice
    (root / "test" / "c").mkdir()
    with pytest.raises(UserError, match=r"is the folder .*train/a again .*count twice"):
        load_data(cfg_for(root, tmp_path))


def test_dataloader_pipeline_reads_the_files_the_inmemory_pipeline_decoded(tmp_path):
    """The tester's stale case: the dataloader pipeline re-listed the folder while load_data served
    an old cache, so labels and images disagreed (24 images of class a, 100.00 %)."""
    elsewhere = tmp_path / "elsewhere"
    write_images(elsewhere, 4, value=200)
    root = tmp_path / "set"
    write_images(root / "train" / "a", 8, value=40)
    (root / "train" / "b").symlink_to(elsewhere)
    image_set(root, classes=("a", "b"), train=0, test=2)
    overrides = {
        "data.dataset": "imagefolder",
        "data.data_dir": str(root),
        "data.cache_dir": str(tmp_path / "cache"),
        "data.val_size": 4,
        "data.augment": False,
        "data.pipeline": "dataloader",
        "data.workers": 0,
        "train.batch_size": 64,
        "train.eval_batch_size": 64,
    }
    cfg = resolve("smoke", None, overrides)
    load_data(cfg.data)
    write_images(elsewhere, 12, value=200, start=4)  # behind the symlink: 8 + 16 now
    data = load_data(cfg.data)
    assert n_train(data) == 24 and data.files is not None
    batches = make_batches(data, cfg, CPU)
    for split, tensors in (("val", data.val), ("train", data.train), ("test", data.test)):
        xs, ys = zip(*batches[split])
        x, y = torch.cat(xs), torch.cat(ys)
        mean = torch.tensor(data.mean).view(1, -1, 1, 1)
        std = torch.tensor(data.std).view(1, -1, 1, 1)
        pixels = ((x * std + mean) * 255).round().to(torch.uint8)
        if split == "train":  # shuffled: compare as sets of (label, image sum)
            key = sorted(zip(y.tolist(), pixels.sum(dim=(1, 2, 3)).tolist()))
            want = sorted(zip(tensors.labels.tolist(), tensors.images.sum(dim=(1, 2, 3)).tolist()))
            assert key == want
        else:
            assert torch.equal(y, tensors.labels) and torch.equal(pixels, tensors.images), split
    assert sorted(torch.cat([data.train.labels, data.val.labels]).bincount().tolist()) == [8, 16]


def test_a_changed_archive_is_decoded_again(tmp_path):
    root = image_set(tmp_path / "set")
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="set")
    cfg = cfg_for(archive, tmp_path)
    assert n_train(load_data(cfg)) == 10
    st = archive.stat()
    write_images(root / "train" / "b", 3, value=120, start=5)
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="set")
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert n_train(load_data(cfg)) == 13


# ---------------------------------------------------------------- the cache is only a speed-up


def one_warning(err: str) -> str:
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("resnet-lab: warning: "), err
    return lines[0]


def test_cache_dir_that_is_a_file_warns_once_and_loads_uncached(tmp_path, capsys):
    root = image_set(tmp_path / "set")
    blocker = tmp_path / "cache"
    blocker.write_text("precious")
    want = load_data(cfg_for(root, tmp_path / "elsewhere"))
    capsys.readouterr()
    for _ in range(2):
        d = load_data(cfg_for(root, tmp_path))
        assert torch.equal(d.test.images, want.test.images)
    line = one_warning(capsys.readouterr().err)
    assert str(blocker) in line and "continuing without the cache" in line
    assert blocker.read_text() == "precious"


def test_unwritable_cache_dir_warns_once_and_loads_uncached(tmp_path, capsys, monkeypatch):
    root = image_set(tmp_path / "set")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cache_dir.chmod(0o555)

    def refuse(*a, **k):  # root ignores the mode bits; the OS answer a user would get
        raise PermissionError(errno.EACCES, "Permission denied")

    if os.geteuid() == 0:
        monkeypatch.setattr(cache.tempfile, "mkstemp", refuse)
    d = load_data(cfg_for(root, tmp_path))
    load_data(cfg_for(root, tmp_path))
    cache_dir.chmod(0o755)
    assert n_train(d) == 10
    assert "Permission denied" in one_warning(capsys.readouterr().err)
    assert list(cache_dir.iterdir()) == []


def test_disk_full_while_writing_the_cache_leaves_no_partial_entry(tmp_path, capsys, monkeypatch):
    root = image_set(tmp_path / "set")

    def full(blob, f):
        f.write(b"half a cache")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache, "_dump", full)
    d = load_data(cfg_for(root, tmp_path))
    assert n_train(d) == 10
    assert "No space left on device" in one_warning(capsys.readouterr().err)
    assert list((tmp_path / "cache").iterdir()) == []  # neither the entry nor its temporary file


def loader_config(archive, cache):
    """The smoke preset reading ``archive`` through the DataLoader pipeline, no augmentation."""
    return resolve(
        "smoke",
        None,
        {
            "data.dataset": "imagefolder",
            "data.data_dir": str(archive),
            "data.cache_dir": str(cache),
            "data.val_size": 2,
            "data.augment": False,
            "data.pipeline": "dataloader",
            "data.workers": 0,
        },
    )


def test_archive_on_the_dataloader_pipeline_with_an_unusable_cache(tmp_path, capsys):
    """Extraction needs the cache too; without it the members are read from memory, same images."""
    root = image_set(tmp_path / "set")
    archive = tmp_path / "set.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(root, arcname="set")
    (tmp_path / "cache").write_text("not a folder")
    cfg = loader_config(archive, tmp_path / "cache")
    data = load_data(cfg.data)
    xs, ys = zip(*make_batches(data, cfg, CPU)["test"])
    assert torch.equal(torch.cat(ys), data.test.labels) and len(torch.cat(xs)) == 4
    one_warning(capsys.readouterr().err)


def test_archive_on_the_dataloader_pipeline_is_extracted_inside_the_cache_once(tmp_path):
    root = image_set(tmp_path / "set")
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for path in sorted(root.rglob("*.png"), reverse=True):  # not ImageFolder's order
            tf.add(path, arcname=f"copy/{path.relative_to(root)}")
    cfg = loader_config(archive, tmp_path / "cache")
    data = load_data(cfg.data)
    stamps = []
    for _ in range(2):
        xs, ys = zip(*make_batches(data, cfg, CPU)["test"])
        stamps.append([p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*/members.json")])
        mean = torch.tensor(data.mean).view(1, -1, 1, 1)
        std = torch.tensor(data.std).view(1, -1, 1, 1)
        pixels = ((torch.cat(xs) * std + mean) * 255).round().to(torch.uint8)
        assert torch.equal(torch.cat(ys), data.test.labels)
        assert torch.equal(pixels, data.test.images)
    assert len(stamps[0]) == 1 and stamps[0] == stamps[1]  # extracted once, then reused
    extracted = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(extracted) == 1 and len(list(extracted[0].rglob("*.png"))) == 14
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "set", "set.tar.gz"]


def test_empty_cache_variable_does_not_write_into_the_working_directory(tmp_path, monkeypatch):
    root = image_set(tmp_path / "set")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("RESNET_LAB_CACHE", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    load_data(DataConfig(dataset="imagefolder", data_dir=str(root), val_size=2))
    assert list(work.iterdir()) == []
    assert list((tmp_path / "home" / ".cache" / "resnet-lab").glob("imagefolder-*.pt"))


# ---------------------------------------------------------------- bad folders, one line each


def loose(root: Path) -> Path:
    image_set(root)
    write_images(root / "train", 1, value=40, start=50)
    return root


def empty_class(root: Path) -> Path:
    image_set(root)
    (root / "train" / "c").mkdir()
    (root / "test" / "c").mkdir()
    return root


def dangling(root: Path) -> Path:
    image_set(root)
    (root / "train" / "a" / "gone.png").symlink_to(root / "nowhere.png")
    return root


def non_square(root: Path) -> Path:
    return image_set(root, size=(48, 32))


def mixed_sizes(root: Path) -> Path:
    image_set(root)
    write_images(root / "train" / "b", 1, value=120, size=(10, 10), start=20)
    return root


def one_class(root: Path) -> Path:
    return image_set(root, classes=("a",))


def traversal_archive(root: Path) -> Path:
    image_set(root)
    archive = root.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="set")
        tf.add(root / "train" / "a" / "000.png", arcname="../../escaped/train/a/000.png")
    return archive


def not_an_archive(root: Path) -> Path:
    root.mkdir()
    path = root / "data.tar.gz"
    path.write_bytes(b"this is a text file, not a tar archive\n" * 20)
    return path


def loose_in_archive(root: Path) -> Path:
    image_set(root)
    archive = root.with_suffix(".tar")
    with tarfile.open(archive, "w") as tf:
        tf.add(root, arcname="set")
        tf.add(root / "train" / "a" / "000.png", arcname="set/train/stray.png")
    return archive


def linked_test_set(root: Path) -> Path:
    image_set(root)
    shutil.rmtree(root / "test")
    (root / "test").symlink_to("train")  # the test set would be the training set
    return root


def two_folders_in_archive(root: Path) -> Path:
    image_set(root)
    archive = root.with_suffix(".tar")
    with tarfile.open(archive, "w") as tf:
        tf.add(root, arcname="one")
        tf.add(root, arcname="two")  # every image twice, under two roots
    return archive


BAD = {
    "empty_class_folder": (empty_class, "train/c holds no images", "add its images or remove"),
    "images_directly_in_train": (loose, "train/050.png lies directly in", "move it into its class"),
    "dangling_symlink": (dangling, "gone.png is a symlink to", "restore its target"),
    "non_square_images": (non_square, "000.png is 48x32 pixels (width x height)", "square"),
    "images_of_different_sizes": (mixed_sizes, "020.png is 10x10 pixels but", "one size"),
    "one_class_only": (one_class, "has only the class 'a'", "at least two class folders"),
    "path_traversal_archive": (traversal_archive, "'../../escaped/train/a/000.png'", "repack"),
    "not_an_archive": (not_an_archive, "it is not a tar file", "complete .tar / .tar.gz"),
    "loose_image_in_archive": (loose_in_archive, "set/train/stray.png lies directly", "repack"),
    "test_folder_is_the_train_folder": (linked_test_set, "set/test is the folder", "appear once"),
    "two_image_folders_in_archive": (
        two_folders_in_archive,
        "holds test/a/000.png twice",
        "keep one",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_image_folder_gets_one_line_exit_2_and_leaves_nothing(case, tmp_path, capsys):
    build, needle, fix = BAD[case]
    data_dir = build(tmp_path / "set")
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    pipeline = ["--pipeline", "dataloader", "--workers", "0"] if "archive" in case else []
    args = ["compare", "--preset", "smoke", "--models", "simple_cnn", "--epochs", "1"]
    args += ["--no-tensorboard", "--dataset", "imagefolder", "--data-dir", str(data_dir)]
    assert main([*args, "--val-size", "2", "--out", str(out), *pipeline]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("resnet-lab: error: "), err
    assert needle in err[0] and fix in err[0], err[0]
    assert not out.exists()  # no run directory, no epoch0000.pt
    assert snapshot(tmp_path) == before  # nothing written (cache, extraction) and nothing lost
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_broken_image_is_refused_before_the_tensors_are_built(tmp_path):
    root = image_set(tmp_path / "set")
    (root / "test" / "b" / "001.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(UserError, match=r"cannot decode image .*test/b/001.png"):
        load_data(cfg_for(root, tmp_path))
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- fail fast on size


def test_huge_synthetic_data_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    def never(*a, **k):
        raise AssertionError("allocated although it cannot fit")

    monkeypatch.setattr(data_mod.torch, "rand", never)  # the first allocation of make_synthetic
    (tmp_path / "huge.yaml").write_text("data:\n  synthetic_train: 1000000000\n")
    out = tmp_path / "out"
    args = ["compare", "--preset", "smoke", "--config", str(tmp_path / "huge.yaml")]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("resnet-lab: error: synthetic data of 1,000,000,000")
    assert "GiB of memory" in err[0] and "lower data.synthetic_train" in err[0]
    assert not out.exists()


def test_image_folder_too_big_for_memory_is_refused_after_one_decode(tmp_path, monkeypatch):
    root = image_set(tmp_path / "set")
    decoded = []
    real = data_mod._decode
    monkeypatch.setattr(
        data_mod, "_decode", lambda data, name: decoded.append(name) or real(data, name)
    )
    monkeypatch.setattr(memory, "available_memory", lambda: 1000)
    with pytest.raises(UserError) as err:
        load_data(cfg_for(root, tmp_path))
    msg = str(err.value)
    # 14 images of 3x8x8: 14 * 192 bytes + 5 bytes per training element (10 images)
    assert f"would need about 0.0 GiB of memory ({14 * 192 + 5 * 10 * 192:,} bytes)" in msg
    assert "14 images of 8x8 pixels" in msg and "use fewer or smaller images" in msg
    assert len(decoded) == 1 and not (tmp_path / "cache").exists()


def test_available_memory_is_a_positive_byte_count():
    avail = memory.available_memory()
    assert 2**20 < avail <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- data config


def test_data_dir_with_synthetic_data_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["compare", "--preset", "smoke", "--dataset", "synthetic"]
    assert main([*args, "--data-dir", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dataset synthetic generates its images" in err[0]
    assert "drop --data-dir" in err[0] and not out.exists()
    # The library names the setting by its config key, the command line by its flag.
    with pytest.raises(UserError, match="drop `data.data_dir`"):
        load_data(DataConfig(dataset="synthetic", data_dir=str(tmp_path)))


def test_pixels_round_trip_through_bytes():  # the helper the archive fallback relies on
    from resnet_lab.data.loader import _pil_from_bytes

    arr = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    assert np.array_equal(np.asarray(_pil_from_bytes(buf.getvalue())), arr)


# ---------------------------------------------------------------- archives are whole or refused


def _archive(tmp_path: Path, mode: str) -> Path:
    root = image_set(tmp_path / "set", classes=("a", "b", "c"), train=20, test=4)
    archive = tmp_path / ("set.tar.gz" if mode == "w:gz" else "set.tar")
    with tarfile.open(archive, mode) as tf:
        tf.add(root, arcname="set")
    assert n_train(load_data(cfg_for(archive, tmp_path / "ok"))) == 60  # whole, it loads
    return archive


def _middle_member_offset(archive: Path) -> int:
    with tarfile.open(archive) as tf:
        images = [m for m in tf.getmembers() if m.isfile()]
    return images[len(images) // 2].offset


def test_a_gzip_archive_with_flipped_bytes_is_refused_not_read_in_part(tmp_path):
    archive = _archive(tmp_path, "w:gz")
    data = bytearray(archive.read_bytes())
    at = int(len(data) * 0.95)
    data[at : at + 40] = bytes(b ^ 0xFF for b in data[at : at + 40])
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match="is damaged|cannot read archive"):
        load_data(cfg_for(archive, tmp_path))


def test_a_tar_cut_at_a_member_header_is_refused(tmp_path):
    archive = _archive(tmp_path, "w")
    at = _middle_member_offset(archive)
    archive.write_bytes(archive.read_bytes()[:at])
    with pytest.raises(UserError, match="is damaged: it is cut short after member"):
        load_data(cfg_for(archive, tmp_path))


def test_a_tar_with_a_damaged_header_is_refused_naming_the_member_before_it(tmp_path):
    archive = _archive(tmp_path, "w")
    at = _middle_member_offset(archive)
    data = bytearray(archive.read_bytes())
    data[at : at + 512] = b"garbage!" * 64
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match="is damaged: the tar header after member set/"):
        load_data(cfg_for(archive, tmp_path))


def test_a_cut_gzip_archive_is_refused(tmp_path):
    archive = _archive(tmp_path, "w:gz")
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(UserError, match="is damaged|cannot read archive"):
        load_data(cfg_for(archive, tmp_path))


# ---------------------------------------------------------------- a run knows its data


def _trained_on_folder(tmp_path: Path) -> tuple[Path, Path]:
    root = image_set(tmp_path / "set", classes=("a", "b", "c"), train=8, test=3, size=(32, 32))
    out = tmp_path / "run"
    args = ["compare", "--preset", "smoke", "--dataset", "imagefolder", "--data-dir", str(root)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--val-size", "3", "--epochs", "1"]
    args += ["--models", "simple_cnn", "--no-tensorboard", "--out", str(out)]
    assert main(args) == 0
    return root, out


def _one_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_resume_refuses_data_that_changed_since_the_run(tmp_path, capsys):
    root, out = _trained_on_folder(tmp_path)
    fp = json.loads((out / "results.json").read_text())["provenance"]["data_fingerprint"]
    assert fp["classes"] == ["a", "b", "c"] and fp["train"] + fp["val"] == 24
    capsys.readouterr()
    for p in sorted((root / "train" / "a").iterdir())[:3]:
        p.unlink()
    before = snapshot(out)
    assert main(["compare", "--resume", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "was trained on other data than these" in line and "train images" in line
    assert snapshot(out) == before


def _swap_classes(root: Path) -> None:
    """The training images of classes a and b trade places: same files, other labels."""
    (root / "train" / "a").rename(root / "train" / "tmp")
    (root / "train" / "b").rename(root / "train" / "a")
    (root / "train" / "tmp").rename(root / "train" / "b")


def test_analyze_and_diagnose_refuse_swapped_class_folders(tmp_path, capsys):
    root, out = _trained_on_folder(tmp_path)
    capsys.readouterr()
    _swap_classes(root)
    assert main(["analyze", "lesion", str(out / "simple_cnn")]) == 2
    assert "was trained on other data than these" in _one_line(capsys.readouterr().err)
    assert not (out / "analysis").exists()
    final = out / "simple_cnn" / "checkpoints" / "final.pt"
    assert main(["diagnose", str(final)]) == 2
    assert "was trained on other data than these" in _one_line(capsys.readouterr().err)


def test_other_data_is_measured_only_when_asked_and_then_recorded(tmp_path, capsys):
    root, out = _trained_on_folder(tmp_path)
    capsys.readouterr()
    _swap_classes(root)
    assert (
        main(["analyze", "shatter", str(out / "simple_cnn"), "--subset", "2", "--other-data"]) == 0
    )
    err = capsys.readouterr().err
    assert "trained on other data" in err and "--other-data" in err
    entry = json.loads((out / "analysis" / "shatter.json").read_text())["entries"][0]
    assert "labels" in entry["other_data"]
    final = out / "simple_cnn" / "checkpoints" / "final.pt"
    assert main(["diagnose", str(final), "--other-data", "--json", "--probe-images", "8"]) == 0
    assert "labels" in json.loads(capsys.readouterr().out)["other_data"]
    assert main(["compare", "--resume", str(out)]) == 2  # training on them has no such option
    assert "was trained on other data than these" in _one_line(capsys.readouterr().err)


def test_a_file_removed_from_the_extracted_archive_mid_run_is_one_line_and_resume_heals(
    tmp_path, capsys, monkeypatch
):
    """The DataLoader pipeline reads an archive from its extracted copy in the cache; a file removed
    from that copy after the run listed it stops the run in one line, and --resume extracts again."""
    from resnet_lab.data import loader

    root = image_set(tmp_path / "set", train=8, test=3, size=(32, 32))
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="set")
    real, removed = loader.LoaderBatches.__iter__, []

    def first_batch_after_a_removal(self):
        if not removed:  # the first loader to start: all datasets are built and listed by now
            subset = self.dataset  # a Subset (the training split) of the listed images
            removed.append(subset.dataset.samples[subset.indices[0]][0])
            os.unlink(removed[0])
        return real(self)

    monkeypatch.setattr(loader.LoaderBatches, "__iter__", first_batch_after_a_removal)
    out = tmp_path / "run"
    args = ["compare", "--preset", "smoke", "--dataset", "imagefolder", "--data-dir", str(archive)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--val-size", "2", "--epochs", "1"]
    args += ["--models", "simple_cnn", "--no-tensorboard", "--pipeline", "dataloader"]
    assert main([*args, "--workers", "1", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert removed[0] in line and "FileNotFoundError" in line and "--resume" in line, line
    monkeypatch.setattr(loader.LoaderBatches, "__iter__", real)
    assert main(["compare", "--resume", str(out)]) == 0
    assert os.path.isfile(removed[0])  # the copy was made again
    assert json.loads((out / "results.json").read_text())["results"][0]["epochs"] == 1


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupt_while_the_cache_is_written_stays_an_interrupt(tmp_path, monkeypatch, sig):
    import signal

    from resnet_lab.cli import guard

    root = image_set(tmp_path / "set")
    real = cache._dump

    def interrupted(blob, f):
        os.kill(os.getpid(), getattr(signal, sig))  # arrives while torch.save writes
        real(blob, f)

    monkeypatch.setattr(cache, "_dump", interrupted)
    # The command's own handlers: SIGTERM raises guard.Terminated, SIGINT KeyboardInterrupt (set
    # here too: a test run started in the background of a shell inherits SIGINT ignored).
    previous = signal.signal(signal.SIGTERM, guard.on_sigterm)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises((KeyboardInterrupt, guard.Terminated)):
            load_data(cfg_for(root, tmp_path))
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    assert list((tmp_path / "cache").iterdir()) == []  # no entry, no temporary file


def test_class_and_file_names_that_are_not_utf8_load(tmp_path):
    root = image_set(tmp_path / "set")
    for split in ("train", "test"):
        os.rename(root / split / "a", os.fsencode(root / split) + b"/caf\xe9")
    data = load_data(cfg_for(root, tmp_path))
    assert n_train(data) == 10 and len(data.classes) == 2
    assert data.fingerprint()["classes"] == data.classes


def test_a_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    from PIL import Image

    root = image_set(tmp_path / "set", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is over twice the limit
    with pytest.raises(UserError, match="more pixels than Pillow will decode"):
        load_data(cfg_for(root, tmp_path))


@pytest.mark.parametrize("packed", [False, True])
def test_hidden_folders_are_not_classes_nor_images(tmp_path, packed):
    root = image_set(tmp_path / "set")
    write_images(root / "train" / ".ipynb_checkpoints", 3, value=200)  # would be a third class
    write_images(root / "train" / "a" / ".ipynb_checkpoints", 3, value=40)  # copies of images
    write_images(root / "test" / ".ipynb_checkpoints", 1, value=200)
    source = root
    if packed:
        source = tmp_path / "set.tar"
        with tarfile.open(source, "w") as tf:
            tf.add(root, arcname="set")
    data = load_data(cfg_for(source, tmp_path))
    assert data.classes == ["a", "b"] and n_train(data) == 10
