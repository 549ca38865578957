"""The decoded-image cache: a key that cannot match changed data, and a cache that is only a
speed-up.

The key of an image folder hashes its resolved file list (symlinks followed, see ``files.py``): per
image its split, class, path, size, mtime and the bytes themselves. Sizes and mtimes alone served a
folder whose pixels had changed (same sizes, restored mtimes) from the stale cache; the bytes cannot
lie. An archive's key hashes the archive's bytes. The key also names the data's resolved location,
so the provenance string saved with the tensors is the right one.

Cache failures (a read-only or unwritable folder, ``--cache-dir`` naming a file, a full disk) print
one warning line and the run goes on uncached. Entries are written to a unique temporary name and
renamed into place, so two processes building the same entry never write the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from .files import ImageList

KEY_VERSION = b"imagefolder-cache-v2"  # a change of key scheme never matches an older entry
CHUNK = 1 << 20

_warned: set[str] = set()


def default_cache_dir() -> Path:
    # An empty RESNET_LAB_CACHE counts as unset: Path("") is the working directory.
    return Path(os.environ.get("RESNET_LAB_CACHE") or Path.home() / ".cache" / "resnet-lab")


def warn_once(cache_dir: Path, exc: BaseException) -> None:
    """One stderr line per cache folder and process: the cache is off, the run goes on."""
    if str(cache_dir) in _warned:
        return
    _warned.add(str(cache_dir))
    reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [""])[0]
    print(
        f"resnet-lab: warning: cannot use the cache folder {cache_dir} ({type(exc).__name__}"
        f"{': ' + reason if reason else ''}); continuing without the cache (pass --cache-dir "
        "with a writable folder to keep decoded images between runs)",
        file=sys.stderr,
    )


def folder_key(root: Path, listing: ImageList) -> str:
    """sha256 over the resolved file list with each file's size, mtime and bytes."""
    h = hashlib.sha256(KEY_VERSION + b"\0folder\0" + os.fsencode(root.resolve()))
    h.update(os.fsencode("\0".join(listing.classes)))
    prefix = str(root / "x")[:-1]  # listed paths start with it ("" for the working directory)
    for split, entries in listing.files.items():
        for path, label in entries:
            # one open per file: size and mtime of the very bytes hashed (os.path.relpath and a
            # separate stat doubled the key's time on 60,000 files)
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                head = (
                    f"\0{split}\0{label}\0{path[len(prefix) :]}\0{st.st_size}\0{st.st_mtime_ns}\0"
                )
                h.update(os.fsencode(head))  # names need not be UTF-8
                while chunk := f.read(CHUNK):
                    h.update(chunk)
    return h.hexdigest()[:32]


def archive_key(archive: Path) -> str:
    """sha256 over the archive's location, size, mtime and bytes."""
    h = hashlib.sha256(KEY_VERSION + b"\0archive\0" + os.fsencode(archive.resolve()))
    with open(archive, "rb") as f:
        st = os.fstat(f.fileno())
        h.update(f"\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()[:32]


def entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"imagefolder-{key}.pt"


def read(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The cached blob for ``key``, or None; an entry that fails to load or does not match its key
    is removed (when it can be) and rebuilt, never trusted."""
    path = entry(cache_dir, key)
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        ok = blob["key"] == key and all(
            len(blob[f"{s}_x"]) == len(blob[f"{s}_y"]) == blob["names"][s].count("\0") + 1
            for s in ("train", "test")
        )
    except Exception:  # noqa: BLE001 - a damaged entry fails in many ways; rebuilt, never trusted
        ok = False
    if ok:
        return blob
    try:
        path.unlink()
    except OSError:
        pass
    return None


def _dump(blob: dict[str, Any], f) -> None:
    torch.save(blob, f)


@contextlib.contextmanager
def _interrupts_held():
    """Ctrl-C and SIGTERM wait until the block is done: raised inside torch.save they come out as a
    RuntimeError, which would look like a full disk (a warning, and the run goes on). Held, they
    arrive right after it as themselves."""
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write(cache_dir: Path, key: str, blob: dict[str, Any]) -> None:
    """Save ``blob`` under ``key`` (atomically); on any OS error warn once and go on. Interrupted,
    it leaves no partial entry and the interrupt goes on to the caller."""
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".imagefolder-{key}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f, _interrupts_held():
            _dump({**blob, "key": key}, f)
        os.replace(tmp, entry(cache_dir, key))
        tmp = None
    except (OSError, RuntimeError) as exc:  # RuntimeError: torch.save's writer on a full disk
        warn_once(cache_dir, exc)
    finally:  # also on an interrupt: no partial entry left behind
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def folder_for(cache_dir: Path, name: str) -> tuple[Path, Path] | None:
    """A fresh temporary folder beside ``cache_dir/name`` to fill and then :func:`publish`; None
    (after one warning) when the cache folder cannot be written."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{name}.", suffix=".tmp")), (
            cache_dir / name
        )
    except OSError as exc:
        warn_once(cache_dir, exc)
        return None


def publish(tmp: Path, final: Path) -> None:
    """Rename a filled temporary folder into place. When another process published the same entry
    first, keep theirs (it may be in use) and drop ours."""
    try:
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
