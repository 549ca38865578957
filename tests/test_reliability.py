"""Never two writers, never a traceback: run directories, resume, overwrite, signals, full disks,
sizes and messages (docs/reliability.md lists every case with its test)."""

from __future__ import annotations

import errno
import io
import json
import math
import os
from pathlib import Path

import pytest
import yaml

from resnet_lab.cli import guard, main
from resnet_lab.files import atomic_write_bytes, write_json
from resnet_lab.rundir import MARKER, DirLock, claim

SMOKE = ["--preset", "smoke", "--epochs", "1", "--no-tensorboard", "--no-diagnostics"]


def one_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-model compare."""
    out = tmp_path_factory.mktemp("done") / "run"
    assert main(["compare", *SMOKE, "--models", "simple_cnn", "--out", str(out)]) == 0
    return out


def snapshot(path: Path) -> dict[str, float]:
    """Every file's modification time, but the lock's (taking a lock writes its holder into it)."""
    return {
        str(p): p.stat().st_mtime_ns
        for p in path.rglob("*")
        if p.is_file() and p.name != ".resnet-lab.lock"
    }


def test_a_second_writer_is_refused_naming_the_holder(finished, capsys):
    before = snapshot(finished)
    with DirLock(finished, "resnet-lab compare (the test)").acquire():
        assert main(["compare", "--resume", str(finished)]) == 2
        line = one_line(capsys.readouterr().err)
        assert "is being written by another resnet-lab process" in line
        assert f"pid {os.getpid()}" in line
        assert main(["compare", *SMOKE, "--out", str(finished), "--overwrite"]) == 2
        one_line(capsys.readouterr().err)
    assert snapshot(finished) == before  # nothing touched


def test_lock_of_a_dead_process_is_not_stale(tmp_path):
    """flock is dropped when its holder ends, whatever the lock file says."""
    d = tmp_path / "d"
    d.mkdir()
    (d / ".resnet-lab.lock").write_text("pid 999999: resnet-lab compare (killed long ago)")
    DirLock(d, "now").acquire().release()


def test_resume_refuses_a_directory_of_another_command(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "config.yaml").write_text("preset: paper-quick\n")
    (sweep / MARKER).write_text(json.dumps({"kind": "sweep"}))
    (sweep / "sweep.json").write_text("{}")
    assert main(["compare", "--resume", str(sweep)]) == 2
    assert "written by 'resnet-lab sweep', not 'compare'" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in sweep.iterdir()) == [MARKER, "config.yaml", "sweep.json"]
    grid = tmp_path / "grid"
    grid.mkdir()
    (grid / MARKER).write_text(json.dumps({"kind": "grid"}))
    (grid / "config.yaml").write_text("preset: grid-smoke\n")
    assert main(["compare", "--resume", str(grid)]) == 2
    assert "'resnet-lab grid'" in one_line(capsys.readouterr().err)


def test_resume_validates_a_hand_edited_config_like_fresh_input(finished, tmp_path, capsys):
    run = tmp_path / "run"
    import shutil

    shutil.copytree(finished, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train"]["batch_size"] = 0
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["compare", "--resume", str(run)]) == 2
    assert "batch size" in one_line(capsys.readouterr().err)

    cfg["train"]["batch_size"] = 64
    cfg["train"]["epochs"] = 3  # the finished run trained 1 epoch
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    before = snapshot(run)
    assert main(["compare", "--resume", str(run)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "differs from the settings the run was started with" in line
    assert "train.epochs 1 -> 3" in line
    assert snapshot(run) == before


def test_overwrite_replaces_only_resnet_lab_directories_and_never_a_link(
    finished, tmp_path, capsys
):
    mine = tmp_path / "my data"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    assert main(["compare", *SMOKE, "--out", str(mine), "--overwrite"]) == 2
    assert "only replaces directories resnet-lab made" in one_line(capsys.readouterr().err)
    assert (mine / "precious.txt").read_text() == "keep me"

    link = tmp_path / "link"
    link.symlink_to(finished)
    before = snapshot(finished)
    assert main(["compare", *SMOKE, "--out", str(link), "--overwrite"]) == 2
    assert "symbolic link" in one_line(capsys.readouterr().err)
    assert snapshot(finished) == before


def test_overwrite_replaces_a_finished_run(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "stale.txt").write_text("from the old run")
    assert (
        main(["compare", *SMOKE, "--models", "simple_cnn", "--out", str(run), "--overwrite"]) == 0
    )
    assert not (run / "stale.txt").exists() and (run / "results.json").is_file()


def test_interrupt_before_anything_is_written_offers_no_resume(tmp_path, capsys, monkeypatch):
    from resnet_lab import comparison

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparison, "load_data", interrupted)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["compare", *SMOKE, "--out", str(out)])
    assert exc.value.code == 130
    assert "nothing to resume" in one_line(capsys.readouterr().err)
    assert not out.exists()


class _FullDisk(io.FileIO):
    """A file on a disk with room for 100 bytes: the write that goes past them fails as a real one
    does (ENOSPC, no file name)."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_full_disk_gives_one_line_naming_the_file_the_resume_command_and_no_temp_files(
    tmp_path, capsys, monkeypatch
):
    """The checkpoint written by torch.save (which turns the failed write into a RuntimeError
    "unexpected pos ...") fails on the second epoch's checkpoint: the line names that file."""
    from resnet_lab import files

    opened = {"n": 0}

    def full_after_first_checkpoint(path, mode="r", *a, **k):
        if Path(path).name.endswith(".pt.tmp"):
            opened["n"] += 1
            if opened["n"] > 1:
                return _FullDisk(path, "w")
        return open(path, mode, *a, **k)

    monkeypatch.setattr(files, "open", full_after_first_checkpoint, raising=False)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["compare", *SMOKE, "--epochs", "2", "--models", "simple_cnn", "--out", str(out)])
    assert exc.value.code == 1
    line = one_line(capsys.readouterr().err)
    assert "the disk is full" in line and "Resume with: resnet-lab compare --resume" in line
    assert "checkpoints" in line and ".pt" in line, line  # the file that could not be written
    assert not list(out.rglob("*.tmp"))


def test_a_full_disk_while_a_log_grows_names_the_log(tmp_path, monkeypatch):
    from resnet_lab import files

    monkeypatch.setattr(files, "open", lambda path, mode: _FullDisk(path, mode), raising=False)
    log = tmp_path / "metrics.jsonl"
    with pytest.raises(OSError) as exc:
        files.append_text(log, "x" * 200)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(log)


def test_sigterm_while_the_report_is_written_exits_143_in_one_line(tmp_path, capsys, monkeypatch):
    from resnet_lab.reporting import report

    def terminated(*a, **k):
        raise guard.Terminated()

    monkeypatch.setattr(report, "write_report", terminated)
    assert main(["compare", *SMOKE, "--models", "simple_cnn", "--out", str(tmp_path / "r")]) == 143
    assert one_line(capsys.readouterr().err) == "resnet-lab: terminated"


def test_atomic_write_leaves_the_old_file_and_no_temp_file_on_failure(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")

    def half(fh):
        fh.write(b"new, half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write_bytes(target, half)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_json_is_strict_and_says_which_numbers_were_not_finite(tmp_path):
    write_json(tmp_path / "r.json", {"results": [{"test_loss": math.nan, "acc": 10.0}]})
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text
    blob = json.loads(text)
    assert blob["results"][0]["test_loss"] is None
    assert blob["non_finite"] == {"results.0.test_loss": "nan"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--width", "1000"], "would need about"),
        (["--seeds", "0,300000000000000"], "seeds must be between 0 and 4294967295"),
        (["--seed", str(2**63)], "train.seed: seeds must be between 0"),
        (["--weight-decay", "nan"], "must be a finite number"),
        (["--lr", "inf"], "must be a finite number"),
        (["--models", "simple_cnn,simple_cnn"], "lists simple_cnn twice"),
    ],
)
def test_sizes_and_values_that_cannot_work_are_refused_before_anything_is_written(
    tmp_path, capsys, args, needle
):
    out = tmp_path / "run"
    assert main(["compare", *SMOKE, "--out", str(out), *args]) == 2
    assert needle in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_absurd_depths_are_refused_by_validation(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--preset", "sweep-smoke", "--depths", "60002", "--out", str(out)]) == 2
    assert "between 8 and 1202" in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_config_file_that_is_not_utf8(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_bytes(b"train: {epochs: 2}\n# caf\xe9\n")
    assert main(["compare", *SMOKE, "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "is not UTF-8 text" in one_line(capsys.readouterr().err)


def test_a_checkpoint_missing_fields_is_named(finished, tmp_path, capsys):
    import torch

    blob = torch.load(finished / "simple_cnn" / "checkpoints" / "final.pt", weights_only=True)
    del blob["optimizer"]
    blob["epoch"] = "one"
    torch.save(blob, tmp_path / "bad.pt")
    assert main(["diagnose", str(tmp_path / "bad.pt"), "--against", str(tmp_path / "bad.pt")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "lacks or mistypes epoch, optimizer" in line


def test_claim_marks_the_directory_with_its_kind_and_config(tmp_path):
    with claim(tmp_path / "new", "grid", {"a": 1}):
        marker = json.loads((tmp_path / "new" / MARKER).read_text())
    assert marker["kind"] == "grid" and marker["config"] == {"a": 1}


def test_bench_does_not_suggest_an_option_it_lacks(tmp_path):
    from resnet_lab.errors import UserError

    d = tmp_path / "bench"
    d.mkdir()
    (d / "mine.txt").write_text("x")
    with pytest.raises(UserError) as exc:
        claim(d, "bench", {}, overwrite_flag=None)
    assert "--overwrite" not in str(exc.value) and "choose another --out" in str(exc.value)


def test_an_empty_depth_list_is_refused_not_replaced_by_the_preset(tmp_path, capsys):
    assert (
        main(["sweep", "--preset", "sweep-smoke", "--depths", "", "--out", str(tmp_path / "s")])
        == 2
    )
    assert "--depths is empty" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "s").exists()


def test_an_out_path_that_is_not_utf8_is_refused(tmp_path, capsys):
    bad = str(tmp_path) + "/run-\udcff"  # how Python hands over a non-UTF-8 byte in argv
    assert main(["compare", *SMOKE, "--models", "simple_cnn", "--out", bad]) == 2
    assert "is not valid UTF-8 text" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_diagnose_exits_143_in_one_line(capsys, monkeypatch):
    from resnet_lab.diagnostics import targets

    def terminated(*a, **k):
        raise guard.Terminated()

    monkeypatch.setattr(targets, "diagnose_states", terminated)
    assert main(["diagnose", "--model", "simple_cnn", "--preset", "smoke"]) == 143
    assert one_line(capsys.readouterr().err) == "resnet-lab: terminated"


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "files",
    [
        # A home-like folder with a stray results.json.
        {
            ".ssh/id_ed25519": "key",
            ".bashrc": "alias ll",
            "Documents/a.txt": "a",
            "results.json": "{}",
        },
        # A project folder with a config.yaml and an old run.json one level down.
        {"config.yaml": "lr: 1", "results_old/run.json": "{}", "train.py": "print(1)"},
        # A marker that is a link to a file that looks like one.
        {"real-marker.json": json.dumps({"kind": "compare"}), "train.py": "print(1)"},
    ],
)
def test_overwrite_replaces_only_directories_with_resnet_labs_marker(tmp_path, capsys, files):
    d = tmp_path / "folder"
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    if "real-marker.json" in files:
        (d / MARKER).symlink_to(d / "real-marker.json")
    before = _tree(d)
    assert main(["compare", *SMOKE, "--out", str(d), "--overwrite"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "has no resnet-lab marker" in line and "remove it yourself" in line
    assert _tree(d) == before
    assert main(["compare", "--resume", str(d)]) == 2  # nor is it continued
    assert "not a resnet-lab compare directory" in one_line(capsys.readouterr().err)
    assert _tree(d) == before


def test_a_lock_file_that_is_a_link_is_refused_not_followed(finished, tmp_path, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    run = tmp_path / "run"
    assert main(["compare", *SMOKE, "--models", "simple_cnn", "--out", str(run)]) == 0
    capsys.readouterr()
    (run / ".resnet-lab.lock").unlink()
    (run / ".resnet-lab.lock").symlink_to(precious)
    assert main(["compare", *SMOKE, "--out", str(run), "--overwrite"]) == 2
    assert "is a symbolic link" in one_line(capsys.readouterr().err)
    assert precious.read_text() == "keep me"
    assert (run / "results.json").is_file()


def test_analyze_and_report_hold_the_runs_lock(finished, capsys):
    from resnet_lab.rundir import hold_runs

    before = snapshot(finished)
    with hold_runs([finished / "simple_cnn"]):  # what analyze and report hold while they work
        assert main(["compare", *SMOKE, "--out", str(finished), "--overwrite"]) == 2
        assert "being written by another resnet-lab process" in one_line(capsys.readouterr().err)
        # ... and a second reader-writer of the same runs waits its turn too.
        assert main(["report", str(finished)]) == 2
        one_line(capsys.readouterr().err)
    assert snapshot(finished) == before
    assert main(["report", str(finished)]) == 0  # free again once released


def _strict(line: str) -> dict:
    def refuse(token: str):
        raise AssertionError(f"bare {token} in metrics.jsonl")

    return json.loads(line, parse_constant=refuse)


def test_divergence_stops_at_the_first_non_finite_loss_and_keeps_finite_weights(tmp_path, capsys):
    import torch

    out = tmp_path / "run"
    assert (
        main(["compare", *SMOKE, "--models", "simple_cnn", "--lr", "100", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    row = json.loads((out / "results.json").read_text())["results"][0]
    bad = row["diverged_at_step"]
    assert row["reason"] == "diverged" and bad is not None
    assert f"simple_cnn diverged: non-finite training loss at step {bad}" in printed
    # The non-finite step was not taken, nor any after it.
    assert row["steps"] == bad - 1
    last = torch.load(out / "simple_cnn" / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == bad - 1
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    lines = (out / "simple_cnn" / "metrics.jsonl").read_text().splitlines()
    assert lines and all(_strict(l) for l in lines)  # strict JSON: non-finite numbers are null


def test_a_model_non_finite_from_the_start_is_reported_as_such(tmp_path, capsys):
    nets = tmp_path / "nanet.py"
    nets.write_text(
        "import torch\n"
        "class N(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(3 * 32 * 32, 10)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1)) * float('nan')\n"
        "def make():\n"
        "    return N()\n"
    )
    out = tmp_path / "run"
    assert main(["compare", *SMOKE, "--models", f"{nets}:make", "--out", str(out)]) == 0
    row = json.loads((out / "results.json").read_text())["results"][0]
    assert row["diverged_at_step"] == 1 and row["steps"] == 0
    assert row["problem"].startswith("non-finite output from the start")
    assert row["verdict_init"] == "non-finite output"
    assert "exploding" not in row["problem"]
    assert row["test_acc"] == 0.0  # NaN logits are no prediction, not argmax's pick


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--width", "1e9"], "cannot be built with these options"),
        (["--threads", "100000"], "more than this machine's"),
    ],
)
def test_sizes_no_machine_holds_are_one_line(tmp_path, capsys, args, expected):
    out = tmp_path / "o"
    assert main(["compare", *SMOKE, "--models", "simple_cnn", *args, "--out", str(out)]) == 2
    assert expected in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_yaml_alias_bomb_gives_a_short_line(tmp_path, capsys):
    # Seven levels of nine aliases: the value expands to 9**7 strings when printed whole.
    levels = ["&x0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"&x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]" for i in range(1, 7)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("data:\n  dataset: [" + ", ".join(levels) + "]\n")
    assert main(["compare", "--config", str(bomb), "--out", str(tmp_path / "o")]) == 2
    line = one_line(capsys.readouterr().err)
    assert len(line) < 400 and "unknown dataset" in line and "choose one of: cifar10" in line


def test_an_unknown_key_names_the_closest_keys_not_all_of_them(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  datset: cifar10\n")
    assert main(["compare", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "did you mean data.dataset" in line and len(line) < 400


def test_a_grid_runs_error_goes_to_stderr(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["grid", "--preset", "grid-smoke", "--axis", "data.val_size=100000", "--out", str(out)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "--val-size 100000 leaves no training" in captured.err


FACTORIES = """
import torch


class NoParams(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 10)


class IntLogits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 32 * 32, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)).long()


class Later(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 32 * 32, 10)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.training and self.calls > 2:
            raise RuntimeError("boom on a later batch")
        return self.fc(x.flatten(1))


def noparams():
    return NoParams()


def intlogits():
    return IntLogits()


def later():
    return Later()
"""


@pytest.mark.parametrize(
    "factory,expected",
    [("noparams", "has no trainable parameters"), ("intlogits", "returns torch.int64 logits")],
)
def test_a_factory_that_cannot_train_is_refused_before_anything_is_written(
    tmp_path, capsys, factory, expected
):
    (tmp_path / "nets.py").write_text(FACTORIES)
    out = tmp_path / "o"
    models = f"{tmp_path / 'nets.py'}:{factory},simple_cnn"
    assert main(["compare", *SMOKE, "--models", models, "--out", str(out)]) == 2
    assert expected in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_factory_failing_in_training_lets_the_others_train_and_says_how_to_resume(
    tmp_path, capsys
):
    (tmp_path / "nets.py").write_text(FACTORIES)
    out = tmp_path / "o"
    models = f"{tmp_path / 'nets.py'}:later,simple_cnn"
    assert main(["compare", *SMOKE, "--models", models, "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "nets.later (RuntimeError: boom on a later batch)" in line
    assert f"resnet-lab compare --resume {out}" in line
    assert json.loads((out / "simple_cnn" / "run.json").read_text())["status"] == "completed"
    assert not (out / "results.json").exists()  # the compare is not finished


def test_clamped_subsets_are_said_once(tmp_path, capsys):
    args = ["compare", *SMOKE, "--models", "simple_cnn,deep_cnn", "--test-subset", "5000"]
    args += ["--clean-train-images", "99999", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("--test-subset 5,000 is not smaller than the test set: all 200") == 1
    assert err.count("--clean-train-images 99,999 is more than the 1,000 training images") == 1


def test_a_grid_of_hundreds_of_runs_asks_for_yes(tmp_path, capsys):
    from resnet_lab.cli.grid import GRID_CONFIRM_RUNS

    values = ",".join(str(0.001 * (i + 1)) for i in range(GRID_CONFIRM_RUNS + 1))
    out = tmp_path / "g"
    args = ["grid", "--preset", "grid-smoke", "--axis", f"optim.lr={values}", "--out", str(out)]
    assert main(args) == 2
    assert f"this grid has {GRID_CONFIRM_RUNS + 1} runs" in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_released_lock_is_free_although_a_forked_child_still_holds_its_file(tmp_path):
    """A DataLoader worker forked while the run held the lock shares the lock's open file; when the
    run releases it (e.g. after an error) while that worker is still shutting down, the directory
    must be free for the --resume that follows."""
    import os
    import signal
    import time

    d = tmp_path / "run"
    d.mkdir()
    lock = DirLock(d, "the run").acquire()
    child = os.fork()
    if child == 0:  # the "worker": holds the inherited descriptor for a while, then leaves
        time.sleep(5)
        os._exit(0)
    try:
        lock.release()
        DirLock(d, "the resume").acquire().release()  # refused before the fix
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
