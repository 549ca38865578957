"""How a command ends: one line on stderr and an exit code for an interruption (Ctrl-C, SIGTERM),
a fixable operating-system error or a lost torchrun peer, with the command that resumes the run."""

from __future__ import annotations

import errno
import shlex
import sys

from ..distributed import from_env, lost_peer, place
from ..errors import one_line


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that training unwinds like a Ctrl-C (a BaseException, so
    that code which records a failing grid cell and goes on does not swallow it)."""


def on_sigterm(signum, frame) -> None:
    raise Terminated()


# Operating-system failures a user can fix (space, permissions): one line, exit 1, never a traceback.
FIXABLE_OS_ERRORS = {
    errno.ENOSPC: "the disk is full; free space",
    errno.EDQUOT: "the disk quota is exceeded; free space",
    errno.EACCES: "permission denied; fix the permissions",
    errno.EPERM: "operation not permitted; fix the permissions",
    errno.EROFS: "the file system is read-only; write somewhere else",
}


def os_error_line(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"cannot write{where}: {FIXABLE_OS_ERRORS[exc.errno]}"


def say(line: str, own: bool = False) -> None:
    """One line on stderr, once per run: under torchrun rank 0 says it for all (every rank meets
    the same bad input and the same signal), except a failure of a rank's own after the ranks
    joined (``own``), which that rank says, naming itself."""
    here = place()
    if here.is_main and from_env().is_main:
        print(line, file=sys.stderr)
    elif own and here.active:
        print(f"[rank {here.rank}] {line}", file=sys.stderr)


ARGV: list[str] = []  # this invocation's arguments (main sets them), for "run the same command"


def same_command() -> str:
    return shlex.join(["resnet-lab", *ARGV]) + " (the same command)"


def interruptible(resume_hint: str, fn, *a, out=None, note: str | None = None, **kw):
    """Run ``fn``; on Ctrl-C (exit 130) or SIGTERM (exit 143) say how to resume, and on a full disk or
    a permission error (exit 1) say what to fix and how to resume. Each model's completed epochs
    are in its checkpoints/last.pt, so only the current epoch's steps are lost. ``out``: the
    directory the run writes; no resume command is offered while it holds nothing. ``note``
    replaces the resume sentence for work that is not training (e.g. analyze)."""
    from pathlib import Path

    from ..rundir import is_run_dir

    def resumable() -> bool:
        return out is None or (Path(out).is_dir() and is_run_dir(Path(out)))

    try:
        return fn(*a, **kw)
    except (KeyboardInterrupt, Terminated) as exc:
        code = 143 if isinstance(exc, Terminated) else 130
        if note is None:
            note = (
                f"each model continues from its last checkpoint. Resume with: {resume_hint}"
                if resumable()
                else "stopped before anything was written; nothing to resume"
            )
        say(f"resnet-lab: interrupted; {note}")
        raise SystemExit(code) from None
    except OSError as exc:
        if exc.errno not in FIXABLE_OS_ERRORS:
            raise
        then = f". Resume with: {resume_hint}" if note is None and resumable() else ""
        say(f"resnet-lab: error: {os_error_line(exc)}{then}")
        raise SystemExit(1) from None
    except RuntimeError as exc:
        if (why := lost_peer(exc)) is None:
            raise
        # Said by each surviving rank (rank 0 may be the one lost); torchrun then ends the job.
        then = (
            f"; resume under torchrun with: {resume_hint}" if note is None and resumable() else ""
        )
        say(f"resnet-lab: error: {one_line(why, 300)}{then}", own=True)
        raise SystemExit(1) from None
