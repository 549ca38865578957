"""``resnet-lab report``."""

from __future__ import annotations

import argparse

from ..errors import UserError


def add_parser(sub) -> None:
    rp = sub.add_parser(
        "report",
        help="write the HTML + Markdown report of compare runs (or rewrite a sweep's or grid's)",
        description="Write report.html (self-contained: images inline, no network) and report.md "
        "with figures/*.png for finished compare runs. Several runs (e.g. the same compare with "
        "--optimizer sgd and adam) are reported together, with conclusions about the optimiser. "
        "Results of 'resnet-lab analyze' found in the runs' analysis/ folders become sections. "
        "A single sweep or grid directory gets its sweep.html or grid.html rewritten; several grids of one "
        "study (e.g. one preset run in stages with different --axis or --seeds) are reported together "
        "into --out, each cell over all its seeds.",
    )
    rp.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="the --out directory of a finished compare (or of a sweep or grid)",
    )
    rp.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: the first RUN_DIR)"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..rundir import hold_runs

    # The runs stay as they are while they are read and the report is written beside them. Grids
    # reported together are only read (a grid still running may be among them: its finished runs
    # are reported); the lock is held on the directory written into.
    together = len(args.runs) > 1 and all(_is_grid(Path(r)) for r in args.runs)
    held = [Path(args.out)] if together and args.out else [Path(r) for r in args.runs]
    with hold_runs(held + ([Path(args.out)] if args.out and not together else [])):
        html_path, md_path = _write_reports(args.runs, args.out)
    print(f"report: {html_path}\n        {md_path}")
    return 0


def _write_reports(runs: list[str], out: str | None):
    from pathlib import Path

    from ..reporting.grid_report import write_grid_report, write_merged_report
    from ..reporting.report import write_report
    from ..reporting.sweep_report import write_sweep_report

    # A sweep or grid directory gets its own report (rewritten in place, with any analyze sections).
    study = {"sweep.json": write_sweep_report, "grid.json": write_grid_report}
    writer = next(
        (w for f, w in study.items() if len(runs) == 1 and (Path(runs[0]) / f).is_file()), None
    )
    if writer is not None:
        if out:
            raise UserError("a sweep or grid report is written into its own directory; drop --out")
        return writer(runs[0])
    if len(runs) > 1 and all(_is_grid(Path(r)) for r in runs):
        from ..grid_engine import unfinished_grid
        from ..reporting.grid_report import load_grid

        if not out:
            raise UserError(
                "several grids are reported together into a directory of their own; pass --out DIR"
            )
        blobs = [
            load_grid(r) if (Path(r) / "grid.json").is_file() else unfinished_grid(Path(r))
            for r in runs
        ]
        return write_merged_report(blobs, runs, out)
    return write_report(runs, out)


def _is_grid(path) -> bool:
    """A grid directory: finished (grid.json) or not yet (resnet-lab's grid marker)."""
    from ..rundir import kind_of

    return (path / "grid.json").is_file() or (path.is_dir() and kind_of(path) == "grid")
