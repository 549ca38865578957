"""Who may write a run directory: its kind, one writer at a time, and safe replacement.

Every directory a command writes (``compare``, ``grid``, ``sweep``, ``bench``) gets a marker file
``.resnet-lab`` naming the command that made it and the config it was started with. With it:

* ``--resume DIR`` and a grid/sweep run again on the same ``--out`` continue only a directory of
  *their* kind (``compare --resume`` on a sweep directory is refused), and only with the settings
  it was started with (a hand-edited ``config.yaml`` is refused, naming what changed);
* ``--overwrite`` replaces only a resnet-lab directory (or an empty one), never follows a
  symbolic link, and never one another process is writing;
* a second writer is refused: the writing process holds an exclusive ``fcntl.flock`` on
  ``.resnet-lab.lock`` for as long as it runs. The kernel drops the lock when the process ends,
  however it ends, so a lock left by a killed run is never stale; the file itself stays (a
  dotfile with the last holder's pid and command, for the message).

Only the marker makes a directory a run: a folder that merely holds files with common names
(``results.json``, ``config.yaml``, ``*/run.json``) is never replaced or continued, and a marker or
lock that is a symbolic link is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

MARKER = ".resnet-lab"
LOCK = ".resnet-lab.lock"
KINDS = ("compare", "grid", "sweep", "bench")


def kind_of(path: Path) -> str | None:
    """The command that made ``path``, from its marker; None when it has none (or a marker that is
    a link, unreadable, or not resnet-lab's). Files with common names (results.json, config.yaml,
    run.json) never make a directory a run: a user's folder may hold them too."""
    marker = path / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        kind = json.loads(marker.read_text())["kind"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return kind if kind in KINDS else None


def has_content(path: Path) -> bool:
    """Whether ``path`` is a directory holding more than resnet-lab's own marker and lock (a run that
    stopped right after claiming its directory wrote nothing worth keeping)."""
    return path.is_dir() and any(p.name not in (MARKER, LOCK) for p in path.iterdir())


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` was written by resnet-lab: it holds resnet-lab's marker."""
    return kind_of(path) is not None


def started_config(path: Path) -> dict[str, Any] | None:
    """The config ``path`` was started with (None for directories written before the marker)."""
    try:
        return json.loads((path / MARKER).read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return None


def _encodable(path: Path) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(
            f"output path {str(path)!r} is not valid UTF-8 text; choose an --out whose name is"
        ) from None


class DirLock:
    """An exclusive, non-blocking ``flock`` on ``<dir>/.resnet-lab.lock``, held until ``release``."""

    def __init__(self, path: Path, command: str):
        self.path, self.command = path, command
        self.fd: int | None = None

    def acquire(self) -> Self:
        import fcntl  # POSIX; imported here so that importing this module works everywhere

        lock = self.path / LOCK
        if lock.is_symlink() or (self.path / MARKER).is_symlink():
            raise UserError(
                f"{lock if lock.is_symlink() else self.path / MARKER} is a symbolic link; resnet-lab "
                "never writes through one: remove the link, or choose another directory"
            )
        # O_NOFOLLOW: a link put there after the check above is refused too (ELOOP), not followed.
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 400).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(
                f"{self.path} is being written by another resnet-lab process ({holder}); wait for "
                "it to finish, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {self.command}".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            # Unlock before closing: a forked child (a DataLoader worker still shutting down after an
            # error) shares this open file, and closing ours alone would leave the lock held by it
            # (a --resume right after was refused as "being written by another process").
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_runs(paths: list[Path]) -> contextlib.ExitStack:
    """Hold the lock of every resnet-lab directory that holds (or is) one of ``paths`` (a model run
    or a study), so that no --overwrite or resume replaces the runs while they are read and
    written into (``analyze``, ``report``); a directory another process is writing is refused."""
    stack = contextlib.ExitStack()
    seen: set[Path] = set()
    try:
        for p in paths:
            for d in (Path(p), Path(p).parent):
                d = d.resolve()
                if d not in seen and is_run_dir(d):
                    seen.add(d)
                    stack.enter_context(DirLock(d, _command()).acquire())
    except BaseException:
        stack.close()
        raise
    return stack


def _command() -> str:
    return " ".join(["resnet-lab", *sys.argv[1:]])[:300]


def claim(
    path: str | Path,
    kind: str,
    config: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    overwrite_flag: str | None = "--overwrite",
) -> DirLock:
    """Make ``path`` this process's ``kind`` directory and hold its lock (release it when done).

    A new (or empty) path is created and marked. ``resume``: the path must be a ``kind``
    directory started with ``config`` (when both are known). ``overwrite``: a resnet-lab directory
    that nobody is writing is emptied first. ``overwrite_flag``: how the command spells the option
    in messages (None: it has none, so none is suggested).
    """
    path = Path(path)
    _encodable(path)
    if path.is_symlink() and (overwrite or not path.exists()):
        raise UserError(
            f"{path} is a symbolic link; resnet-lab never replaces a link or creates a run "
            "through one, so give the real directory as --out"
        )
    if path.exists() and not path.is_dir():
        raise UserError(f"output path {path} is a file; choose another --out")
    existing = has_content(path)
    found = kind_of(path) if existing else None
    if resume:
        if not existing or not is_run_dir(path):
            raise UserError(
                f"{path} is not a resnet-lab {kind} directory; pass the --out of an interrupted "
                f"'resnet-lab {kind}'"
            )
        if found not in (None, kind):
            raise UserError(
                f"{path} was written by 'resnet-lab {found}', not '{kind}'; continue it with "
                f"'resnet-lab {found}' (the same command that started it)"
            )
        _same_config(path, config)
    elif existing and not overwrite:
        hint = f" or pass {overwrite_flag} to replace it" if overwrite_flag else ""
        raise UserError(
            f"output directory {path} already exists and is not empty; choose another --out{hint}"
        )
    elif existing and not is_run_dir(path):
        raise UserError(
            f"{path} has no resnet-lab marker ({MARKER}), and {overwrite_flag} only replaces "
            "directories resnet-lab made; remove it yourself if you mean to, or choose another --out"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock = DirLock(path, _command()).acquire()
    except OSError as exc:
        raise UserError(
            f"cannot write to output directory {path} ({exc.strerror}); choose another --out"
        ) from None
    try:
        if existing and not resume:  # --overwrite of a directory nobody is writing (we hold it now)
            for entry in path.iterdir():
                if entry.name in (LOCK, MARKER):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        if not (resume and (path / MARKER).is_file()):
            from .runs import now, write_json

            write_json(path / MARKER, {"kind": kind, "created": now(), "config": config})
    except BaseException:
        lock.release()
        raise
    return lock


def _same_config(path: Path, config: dict[str, Any] | None) -> None:
    """Refuse to resume with settings other than those the run was started with."""
    started = started_config(path)
    if started is None or config is None or started == config:
        return
    from .config import flatten

    a, b = flatten(started), flatten(config)
    changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    shown = ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in changed[:3])
    raise UserError(
        f"{path}/config.yaml differs from the settings the run was started with ({shown}); a "
        "resumed run keeps its settings: restore config.yaml, or start a new run with another --out"
    )
