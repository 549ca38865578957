"""The one exception type the command line turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix. A setting is named by
    its config key in backticks, `data.data_dir` or with a value `data.augment=false` (what a Python
    or YAML user sets); the command line shows the flag instead (cli/flags.py: as_flags)."""


# A message is one readable line: a value from the input is shown shortened (a YAML alias bomb
# or a pasted file would otherwise make a message of gigabytes), and so is the whole line.
MAX_MESSAGE = 600


def shown(value: object) -> str:
    """``repr(value)`` bounded in length and nesting, for messages."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict, r.maxlevel = 60, 60, 4, 4, 2
    return r.repr(value)


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line and at most ``limit`` characters (its middle cut out)."""
    text = " ".join(str(message).split())
    if len(text) <= limit:
        return text
    keep = limit - 5
    return f"{text[: keep * 3 // 4]} ... {text[-(keep // 4) :]}"


def exception_line(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters: how a study records a run that
    raised (inline or in a worker process) and goes on with the others."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


_NOTED: set[str] = set()


def note_once(text: str) -> None:
    """One stderr line per process for a setting resnet-lab had to adjust (e.g. a subset larger
    than the data): said, never silent, and not repeated for every model of a study."""
    import sys

    if text not in _NOTED:
        _NOTED.add(text)
        print(f"resnet-lab: note: {text}", file=sys.stderr, flush=True)
