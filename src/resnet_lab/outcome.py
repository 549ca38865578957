"""What became of a run, one name per meaning (torch-free: the reports use it too).

A run's ``status`` (experiment.judge) is LEARNED or FAILED; a study's row adds DIVERGED (a
non-finite loss stopped it) and ERROR (it raised); a cell over its seeds is MIXED when they
disagree. A ``StrEnum``: the JSON files hold the plain strings, and a string read back from them
compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    LEARNED = "learned"
    FAILED = "failed"
    DIVERGED = "diverged"
    ERROR = "error"
    MIXED = "mixed"
