"""The resolved list of an image folder's files (or an archive's members): every image exactly once,
symlinks followed, and every layout that would give wrong numbers refused in one line.

Both pipelines read this one list: the in-memory pipeline decodes it, the dataloader pipeline hands
it to its per-image dataset, so the two cannot disagree about which images exist or their labels.
The order is torchvision's ImageFolder order (classes alphabetical; within a class, folders by path,
files by name) for folders and member order for archives, as before.

Refused, each with the file named and the fix: a symlink loop (torchvision's ``os.walk(...,
followlinks=True)`` turned 20 images into 980), a folder reached twice through symlinks (its images
would count twice, or sit in the training and the test set at once), a dangling symlink, images
lying directly in ``train/`` or ``test/`` (they have no class), an empty class folder, a single
class, and archive members that are absolute, contain ``..``, are links, or occur twice.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLITS = ("train", "test")
LAYOUT = "images belong in train/<class>/ and test/<class>/"


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


@dataclass
class ImageList:
    """Per split, ``(path or archive member, class index)`` in load order, and the class names."""

    classes: list[str]
    files: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(v) for v in self.files.values())


def _check_classes(where: str, per_split: dict[str, list[str]]) -> list[str]:
    train, test = per_split["train"], per_split["test"]
    if len(train) < 2:
        found = f"only the class {train[0]!r}" if train else "no class folders"
        raise UserError(
            f"{where}/train has {found}; a classifier needs at least two class folders "
            f"({LAYOUT}) - add the other classes"
        )
    if train != test:
        only_train = ", ".join(sorted(set(train) - set(test))) or "none"
        only_test = ", ".join(sorted(set(test) - set(train))) or "none"
        raise UserError(
            f"{where}: train/ and test/ have different class folders (only in train: {only_train}, "
            f"only in test: {only_test}); make them match"
        )
    return train


# --------------------------------------------------------------------------- folders


def _hidden(name: str) -> bool:
    """Hidden files and folders (``.ipynb_checkpoints``, ``.DS_Store``) are no class and no image:
    tools leave them beside the data, often holding copies of its images."""
    return name.startswith(".") and name not in (".", "..")  # ".." is refused, not skipped


def _scan(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise UserError(
            f"cannot read folder {folder} ({exc.strerror or type(exc).__name__}); "
            "check its permissions"
        ) from None


def _refuse_dangling(entry: os.DirEntry) -> None:
    """A one-line error when ``entry`` is a symlink whose target does not exist."""
    if entry.is_symlink() and not os.path.exists(entry.path):
        raise UserError(
            f"{entry.path} is a symlink to {os.readlink(entry.path)}, which does not exist; "
            "remove the link or restore its target"
        )


class _Walker:
    """Walks class folders following symlinks; remembers every folder visited (by device and inode)
    so a loop, or the same folder reached twice, is refused instead of read again."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, int], str] = {}

    def mark(self, folder: Path) -> tuple[int, int]:
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            raise UserError(
                f"{folder} is the folder {self.seen[key]} again (through a symlink), so its images "
                "would count twice; each image folder may appear once - remove one of the two"
            )
        self.seen[key] = str(folder)
        return key

    def images(self, top: Path, ancestors: list[tuple[int, int]]) -> list[str]:
        found: list[tuple[str, list[str]]] = []
        self._visit(top, ancestors, found)
        # torchvision's make_dataset: sorted(os.walk(...)) orders folders by path, files by name
        return [path for _, paths in sorted(found) for path in paths]

    def _visit(self, folder: Path, ancestors: list[tuple[int, int]], found: list) -> None:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in ancestors:
            back = self.seen[(st.st_dev, st.st_ino)]
            raise UserError(
                f"{folder} is a symlink loop (it leads back to {back}); remove that link"
            )
        key = self.mark(folder)
        paths = []
        for entry in _scan(folder):
            if _hidden(entry.name):
                continue
            _refuse_dangling(entry)
            if entry.is_dir():
                self._visit(Path(entry.path), [*ancestors, key], found)
            elif is_image(entry.name):
                paths.append(entry.path)
        found.append((str(folder), paths))


def list_folder(root: Path) -> ImageList:
    """The images under ``root/{train,test}/<class>/`` (any depth below the class folder)."""
    walker = _Walker()
    root_key = walker.mark(root)
    classes: dict[str, list[str]] = {}
    per_class: dict[str, dict[str, list[str]]] = {}
    for split in SPLITS:
        top = root / split
        top_key = walker.mark(top)
        names = []
        for entry in _scan(top):
            if _hidden(entry.name):
                continue
            _refuse_dangling(entry)
            if entry.is_dir():
                names.append(entry.name)
            elif is_image(entry.name):
                raise UserError(
                    f"{entry.path} lies directly in {top}, so it has no class; {LAYOUT} - move it "
                    "into its class folder"
                )
        classes[split] = names
        per_class[split] = {}
        for name in names:
            images = walker.images(top / name, [root_key, top_key])
            if not images:
                raise UserError(
                    f"class folder {top / name} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                    "add its images or remove the folder"
                )
            per_class[split][name] = images
    order = _check_classes(str(root), classes)
    return ImageList(
        order,
        {
            split: [(path, i) for i, name in enumerate(order) for path in per_class[split][name]]
            for split in SPLITS
        },
    )


# --------------------------------------------------------------------------- archives


def open_archive(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(
            f"cannot read archive {archive}: it is not a tar file, or it is damaged "
            f"({type(exc).__name__}); `data.data_dir` must be an image folder or a complete .tar / "
            ".tar.gz of one"
        ) from None


def members(archive: Path) -> list[tarfile.TarInfo]:
    """Every member header of ``archive``, after checking that the archive is whole (see
    :func:`verify_end`); a damaged or non-tar file is one UserError, never read in part."""
    try:
        with open_archive(archive) as tf:
            found = tf.getmembers()
            end = tf.offset  # where tarfile stopped: the end-of-archive blocks, if it is whole
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise UserError(
            f"cannot read archive {archive} ({type(exc).__name__}); check that it is a complete "
            ".tar or .tar.gz file"
        ) from None
    verify_end(archive, end, found[-1].name if found else None)
    return found


# How each compression tarfile reads starts (magic bytes) and the module that reads it whole.
_COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "lzma"))


def verify_end(archive: Path, end: int, last: str | None) -> None:
    """tarfile takes a header it cannot parse after the first member as the end of the archive and
    never checks a gzip CRC unless it reads to the end, so a cut or corrupted archive would be read
    in part. Here the (decompressed) bytes at ``end`` must be the end-of-archive block of zeros, and
    the stream is read to its end, which makes gzip/bz2/lzma check their CRC and length."""
    import importlib

    with open(archive, "rb") as raw:
        head = raw.read(6)
    module = next((m for magic, m in _COMPRESSIONS if head.startswith(magic)), None)
    after = f"after member {last}" if last else "at its start"
    try:
        opener = importlib.import_module(module).open if module else open
        with opener(archive, "rb") as fh:
            fh.seek(end)  # forward: a compressed stream decompresses up to here
            block = fh.read(tarfile.BLOCKSIZE)
            while fh.read(1 << 20):  # to the end: the CRC and length are checked there
                pass
    except (OSError, EOFError, ValueError) as exc:  # BadGzipFile, zlib/lzma errors, cut streams
        raise UserError(
            f"archive {archive} is damaged: its {module} data fail their check "
            f"({type(exc).__name__}); it is not read in part - download or pack it again"
        ) from None
    if len(block) < tarfile.BLOCKSIZE:
        raise UserError(
            f"archive {archive} is damaged: it is cut short {after} (no end-of-archive blocks); "
            "it is not read in part - download or pack it again"
        )
    if block.strip(b"\0"):
        raise UserError(
            f"archive {archive} is damaged: the tar header {after} is not valid; it is not read "
            "in part - download or pack it again"
        )


def _place(archive: Path, name: str) -> tuple[str, str, str, str] | None:
    """(prefix, split, class, file) of an image member at ``<prefix>/<split>/<class>/<file>``; a
    member that could point outside the archive's folder is refused."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise UserError(
            f"archive {archive} has the entry {name!r}, which points outside the archive's folder "
            "(absolute or '..'); it is not read or extracted - repack the archive with relative "
            "paths"
        )
    parts = path.parts
    if len(parts) >= 3 and parts[-3] in SPLITS:
        return "/".join(parts[:-3]), parts[-3], parts[-2], parts[-1]
    return None


def list_archive(archive: Path) -> ImageList:
    """The images at ``[prefix/]{train,test}/<class>/<file>`` in a tar archive, in member order."""
    found: list[tuple[str, str, str]] = []  # (split, class, member name)
    declared: dict[str, set[str]] = {s: set() for s in SPLITS}
    prefixes: dict[str, str] = {}
    seen: dict[str, str] = {}
    for m in members(archive):
        parts = PurePosixPath(m.name).parts
        if any(_hidden(p) for p in parts):
            continue
        place = _place(archive, m.name)
        if m.isdir() and len(parts) >= 2 and parts[-2] in SPLITS:
            prefixes.setdefault("/".join(parts[:-2]), m.name)
            declared[parts[-2]].add(parts[-1])
        if not is_image(m.name):
            continue
        if m.issym() or m.islnk():
            raise UserError(
                f"archive {archive}: {m.name} is a link, not an image; pack the files themselves "
                "(tar --dereference)"
            )
        if place is None:
            if len(parts) >= 2 and parts[-2] in SPLITS:
                raise UserError(
                    f"archive {archive}: {m.name} lies directly in {parts[-2]}/, so it has no "
                    f"class; {LAYOUT} - repack it inside its class folder"
                )
            continue  # an image elsewhere in the archive (a preview, a README figure)
        if not m.isfile():
            continue
        prefix, split, cls, name = place
        prefixes.setdefault(prefix, m.name)
        rel = f"{split}/{cls}/{name}"
        if rel in seen:
            raise UserError(
                f"archive {archive} holds {rel} twice ({seen[rel]} and {m.name}); "
                "keep one copy and repack it"
            )
        seen[rel] = m.name
        found.append((split, cls, m.name))
    if len(prefixes) > 1:
        a, b = list(prefixes.values())[:2]
        raise UserError(
            f"archive {archive} holds more than one image folder ({a} and {b}); pack one"
        )
    present = {s: {cls for split, cls, _ in found if split == s} for s in SPLITS}
    for split in SPLITS:
        for cls in sorted(declared[split] - present[split]):
            raise UserError(
                f"archive {archive}: class folder {split}/{cls} holds no images; add its images "
                "or leave the folder out"
            )
    if not found:
        raise UserError(
            f"archive {archive} holds no images under train/<class>/ and test/<class>/; "
            "an image folder needs both"
        )
    order = _check_classes(str(archive), {s: sorted(present[s]) for s in SPLITS})
    index = {c: i for i, c in enumerate(order)}
    return ImageList(
        order,
        {s: [(name, index[cls]) for split, cls, name in found if split == s] for s in SPLITS},
    )


def extracted_name(member: str) -> str:
    """Where an archive member lands in an extracted copy: ``<split>/<class>/<file>``."""
    return "/".join(PurePosixPath(member).parts[-3:])
