"""Command line: thin subcommands that parse, call the library, and print.

One module per command (``compare.py``, ``grid.py``, ...), each with ``add_parser(sub)`` and
``run(args) -> exit code``; a new command is one module plus a line in ``COMMANDS``. The training
settings' flags are generated from config.py (flags.py); how a command ends on an interruption
or an error is guard.py's. Bad input of any kind ends with one line on stderr
(``resnet-lab: error: ...``) and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..errors import UserError, one_line

# In --help order.
COMMANDS = ("compare", "diagnose", "sweep", "report", "bench", "grid", "analyze", "models")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + line
        raise UserError(f"{message} (see '{self.prog} --help')")


def _command(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="resnet-lab",
        description="Verify, with numbers, what residual connections do for deep networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        _command(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    from .flags import Printed, as_flags
    from .guard import ARGV, FIXABLE_OS_ERRORS, Terminated, on_sigterm, os_error_line, say

    signal.signal(signal.SIGTERM, on_sigterm)
    ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return _command(args.command).run(args)
    except Printed:
        return 0
    except UserError as exc:
        say(f"resnet-lab: error: {one_line(as_flags(str(exc)))}", own=True)
        return 2
    except KeyboardInterrupt:
        say("resnet-lab: interrupted")
        return 130
    except Terminated:
        say("resnet-lab: terminated")
        return 143
    except OSError as exc:
        if exc.errno not in FIXABLE_OS_ERRORS:
            raise
        say(f"resnet-lab: error: {os_error_line(exc)}", own=True)
        return 1
