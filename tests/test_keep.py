"""benchmarks/keep.sh: a study's kept files (no checkpoints) continue the study on another machine."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import smoke_compare
from resnet_lab.cli import main

KEEP = Path(__file__).parent.parent / "benchmarks" / "keep.sh"


def _stage(tmp_path: Path, study: Path, *command: str) -> str:
    """What ``stage`` (benchmarks/queue_lib.sh) prints of its exit code, KEEP_TO=tmp_path/kept."""
    script = (
        f"source {KEEP.parent / 'queue_lib.sh'}; "
        f"stage {tmp_path}/queue.log s1 {study} {' '.join(command)}; echo rc=$?"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env={"KEEP_TO": str(tmp_path / "kept"), "PATH": "/usr/bin:/bin"},
    )
    return done.stdout.strip() + done.stderr


def test_kept_runs_are_small_and_a_restored_study_skips_them(tmp_path, capsys):
    a, kept, b = tmp_path / "a", tmp_path / "kept", tmp_path / "b"
    assert smoke_compare(a, "--models", "simple_cnn", "--epochs", "1", "--no-tensorboard") == 0
    unfinished = a / "deep_cnn"  # a run still going when the machine went away
    unfinished.mkdir()
    (unfinished / "run.json").write_text(json.dumps({"status": "running"}))
    subprocess.run(["bash", str(KEEP), str(a), str(kept)], check=True)

    files = {p.relative_to(kept).as_posix() for p in kept.rglob("*") if p.is_file()}
    assert "results.json" in files and "simple_cnn/run.json" in files
    assert not any(f.endswith(".pt") or "checkpoints" in f for f in files), files
    assert not (kept / "deep_cnn").exists()  # only finished runs are kept

    shutil.copytree(kept, b)
    capsys.readouterr()
    assert main(["compare", "--resume", str(b)]) == 0
    assert "simple_cnn: finished earlier, skipped" in capsys.readouterr().out
    before, after = (json.loads((d / "results.json").read_text())["results"] for d in (a, b))
    assert [r["test_acc"] for r in after] == [r["test_acc"] for r in before]


def test_keep_refuses_a_missing_study(tmp_path):
    done = subprocess.run(
        ["bash", str(KEEP), str(tmp_path / "nothing"), str(tmp_path / "kept")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "is not a directory" in done.stderr
    assert not (tmp_path / "kept").exists()


def test_a_queue_stage_logs_its_real_exit_code_and_keeps_its_runs(tmp_path):
    # benchmarks/queue_lib.sh's stage: the exit code of the command (not of the echo that logs it),
    # and the finished runs kept into KEEP_TO/<stage> when the stage ends.
    study = tmp_path / "study"
    finish = tmp_path / "finish.sh"  # a stage that finishes one run, then fails
    finish.write_text(
        f"mkdir -p {study}/r\n"
        f'echo \'{{"status": "completed"}}\' > {study}/r/run.json\n'
        f"touch {study}/r/big.pt\n"
        "exit 3\n"
    )
    assert _stage(tmp_path, study, "bash", str(finish)) == "rc=3"
    log = (tmp_path / "queue.log").read_text()
    assert "start s1" in log and "end s1 rc=3" in log
    assert (tmp_path / "kept/s1/r/run.json").is_file()
    assert not (tmp_path / "kept/s1/r/big.pt").exists()


def test_a_queue_stage_starts_from_its_kept_copy(tmp_path):
    kept = tmp_path / "kept" / "s1"
    (kept / "r").mkdir(parents=True)
    (kept / "r" / "run.json").write_text('{"status": "completed"}')
    study = tmp_path / "study"
    assert _stage(tmp_path, study, "test", "-f", f"{study}/r/run.json") == "rc=0"


def test_a_kept_grid_resumes_elsewhere_with_its_rows(tmp_path, capsys):
    # The queues' stages are grids and sweeps: the kept copy must pass the grid's own config check
    # (the same settings) and its claim marker, and rebuild grid.json from the kept run.json files.
    a, kept, b = tmp_path / "a", tmp_path / "kept", tmp_path / "b"
    grid = ["grid", "--preset", "grid-smoke", "--no-diagnostics", "--epochs", "1"]
    assert main([*grid, "--out", str(a)]) == 0
    subprocess.run(["bash", str(KEEP), str(a), str(kept)], check=True)
    shutil.copytree(kept, b)
    capsys.readouterr()
    assert main([*grid, "--out", str(b)]) == 0
    assert capsys.readouterr().out.count("finished earlier, skipped") == 2
    rows = [
        [(r["run"], r["test_acc"]) for r in json.loads((d / "grid.json").read_text())["runs"]]
        for d in (a, b)
    ]
    assert rows[0] == rows[1]


def test_a_compare_stage_resumes_a_kept_compare_and_starts_a_new_one_otherwise(tmp_path):
    # queue_lib.sh's compare_stage, with `echo` for the Python: the command it would run.
    def command(name: str) -> str:
        script = (
            f"source {KEEP.parent / 'queue_lib.sh'}; "
            f"compare_stage {tmp_path}/queue.log {name} {tmp_path}/{name} --preset quick --seeds 0,1"
        )
        subprocess.run(
            ["bash", "-c", script],
            check=True,
            env={"KEEP_TO": str(tmp_path / "kept"), "PATH": "/usr/bin:/bin", "PYTHON": "echo"},
        )
        return (tmp_path / f"{name}.log").read_text().strip()

    (tmp_path / "kept/kept-one").mkdir(parents=True)
    (tmp_path / "kept/kept-one/config.yaml").write_text("preset: quick\n")
    assert command("kept-one") == f"-m resnet_lab.cli compare --resume {tmp_path}/kept-one"
    assert command("new-one") == (
        f"-m resnet_lab.cli compare --preset quick --seeds 0,1 --out {tmp_path}/new-one"
    )
