"""`resnet-lab grid`: typed axes, one run per cell, resume after SIGKILL, launchers, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import kill_when_written
from resnet_lab import grid_engine as grid_mod
from resnet_lab import study
from resnet_lab.cli import main
from resnet_lab.config import _coerce, resolve
from resnet_lab.errors import UserError
from resnet_lab.grid_engine import cell_name, parse_axis, plan, run_grid, summarise

SMOKE = ["--preset", "grid-smoke", "--no-diagnostics"]
# What a run gives that must not change when it is resumed or run beside others.
SAME_NUMBERS = (
    "final_train_loss",
    "final_val_acc",
    "best_val_acc",
    "test_acc",
    "steps",
    "outcome",
    "threshold_step",
)


def test_axes_are_typed_by_the_config_fields():
    assert parse_axis("model.depth=8,20").values == ((8,), (20,))
    assert parse_axis("model.skip=true,false").values == ((True,), (False,))
    assert parse_axis("optim.lr=0.01,1e-3").values == ((0.01,), (0.001,))
    joint = parse_axis("optim.name+optim.lr=sgd+0.01,adam+0.001")
    assert joint.keys == ("optim.name", "optim.lr") and joint.values == (
        ("sgd", 0.01),
        ("adam", 0.001),
    )
    assert isinstance(parse_axis("optim.lr=1").values[0][0], float)


def test_tuple_settings_are_coerced_to_their_item_type():
    assert _coerce("k", "0.5, 1e-2", tuple[float, ...], "test") == (0.5, 0.01)
    assert _coerce("k", ["3", 4], tuple[int, ...], "test") == (3, 4)
    assert resolve("quick", None, {"optim.milestones": "5,12"}).optim.milestones == (5, 12)
    with pytest.raises(UserError, match="must be float"):
        _coerce("k", "0.5,abc", tuple[float, ...], "test")


@pytest.mark.parametrize(
    "spec,message",
    [
        ("model.depht=8,20", "unknown config key 'model.depht'"),
        ("model.depth=eight", "model.depth must be int"),
        ("model.skip=maybe", "model.skip must be bool"),
        ("model.depth=", "empty value list"),
        ("model.depth=8,,20", "empty value"),
        ("model.depth=8,8", "lists a value twice"),
        ("train.seed=1,2", "--seeds"),
        ("model.depth", "no '='"),
        ("optim.name+optim.lr=sgd,adam+0.1", "join one value per key"),
    ],
)
def test_bad_axes_are_one_line_errors(spec, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_axis(spec)


def test_cell_names_come_from_the_axis_values():
    assert (
        cell_name(
            {
                "model.depth": 20,
                "model.skip": False,
                "model.init": "fixup",
                "optim.name": "sgd",
                "optim.lr": 0.01,
            }
        )
        == "depth20_skip-off_init-fixup_optim-sgd_lr0.01"
    )


def test_the_trainability_presets_plan_every_cell_before_running():
    quick = plan(resolve("trainability-quick"))
    assert len(quick) == 4 * 11 * 2
    depths = {r.settings["model.depth"] for r, _ in quick}
    assert min(depths) <= 8 and max(depths) >= 50
    corner = [
        c
        for r, c in quick
        if r.settings["model.depth"] == 56
        and not r.settings["model.skip"]
        and r.settings["model.init"] == "default"
        and r.settings["model.norm"] == "none"
        and r.settings["optim.name"] == "sgd"
    ]
    assert len(corner) == 1 and corner[0].model.depth == 56 and corner[0].model.skip is False
    assert {r.settings["model.init"] for r, _ in quick} >= {"delta_orthogonal", "fixup", "skipinit"}


def test_the_seed_controls_preset_changes_one_thing_at_a_time():
    runs = plan(resolve("seed-controls", cli={"data.dataset": "synthetic"}))
    assert len(runs) == 9 * 3 and {r.seed for r, _ in runs} == {0, 1, 2}
    cells = {(c.grid.model, c.model.skip, c.model.init, c.optim.name) for _, c in runs}
    assert ("deep_cnn", None, "default", "sgd") in cells and (
        "deep_cnn",
        None,
        "kaiming",
        "adam",
    ) in cells
    assert {
        ("resnet_seed", s, i, "sgd") for s in (True, False) for i in ("default", "kaiming")
    } <= cells
    assert ("simple_cnn", None, "default", "sgd") in cells
    names = {r.cell for r, _ in runs}
    assert (
        "model-deep_cnn_init-default_optim-sgd_lr0.01" in names
    )  # an unset option is left out of the name
    assert all(c.model.width_mult == 0.25 and c.data.val_size is None for _, c in runs)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--axis", "model.depth=8,9"], "6n+2"),
        (["--model", "deep_cnn", "--axis", "model.depth=8"], "has no option 'depth'"),
        (["--axis", "model.skip=false", "--axis", "model.init=fixup"], "needs residual blocks"),
        (["--axis", "model.depth=8,8"], "twice"),
        (["--launcher", "submitit-x"], "invalid choice"),
        (["--seed", "3"], "pass --seeds instead of --seed"),
        (["--seeds", "0,0"], "lists 0 twice"),
        (["--model", "resnet_seed", "--axis", "model.shortcut=A,B"], "has no option 'shortcut'"),
        (["--max-parallel", "0"], "--max-parallel"),
        (
            ["--lr", "0.1", "--axis", "optim.lr=0.01,0.1"],
            "set by a flag or the config file and varied by an axis",
        ),
    ],
)
def test_bad_grids_fail_before_anything_runs(tmp_path, capsys, args, message):
    out = tmp_path / "g"
    assert main(["grid", *SMOKE, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_submitit_launcher_without_the_package_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    assert main(["grid", *SMOKE, "--out", str(tmp_path / "g"), "--launcher", "submitit"]) == 2
    assert "pip install 'resnet-lab[cluster]'" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def _grid_cmd(out, *extra):
    return [
        sys.executable,
        "-m",
        "resnet_lab.cli",
        "grid",
        *SMOKE,
        "--epochs",
        "4",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The smoke grid trained once, uninterrupted, one run after another at one thread: what the
    resumed, interrupted and --jobs grids below must reproduce to the last bit."""
    out = tmp_path_factory.mktemp("reference") / "ref"
    done = subprocess.run(
        _grid_cmd(out, "--threads", "1"), check=False, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return out


def test_grid_resumes_after_a_kill_bit_identically_and_refuses_other_axes(tmp_path, reference):
    out = tmp_path / "killed"
    kill_when_written(
        _grid_cmd(out, "--threads", "1"), out / "depth8_skip-on_seed0" / "checkpoints" / "last.pt"
    )
    # The first invocation's start as its runs recorded it, dated back so that it differs from the
    # resuming one's: a finished run (2020) and the interrupted one, which the resume continues (2019).
    for run, start in (("depth8_skip-off_seed0", "2020"), ("depth8_skip-on_seed0", "2019")):
        path = out / run / "run.json"
        info = json.loads(path.read_text())
        info["provenance"]["started"] = f"{start}-01-01T00:00:00+00:00"
        path.write_text(json.dumps(info))
    again = subprocess.run(
        _grid_cmd(out, "--threads", "1"), check=False, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    assert (
        "depth8_skip-off_seed0: finished earlier, skipped" in again.stdout
        and "resumed at epoch" in again.stdout
    )
    ref = {r["run"]: r for r in json.loads((reference / "grid.json").read_text())["runs"]}
    got = {r["run"]: r for r in json.loads((out / "grid.json").read_text())["runs"]}
    assert set(ref) == set(got) == {"depth8_skip-off_seed0", "depth8_skip-on_seed0"}
    for run in ref:
        for key in SAME_NUMBERS:
            assert got[run][key] == ref[run][key], (run, key)
    assert (out / "grid.html").is_file()
    prov = json.loads((out / "grid.json").read_text())["provenance"]
    assert prov["started"] == "2019-01-01T00:00:00+00:00" and prov["resumed"] > prov["started"]
    resumed_run = json.loads((out / "depth8_skip-on_seed0" / "run.json").read_text())
    assert resumed_run["provenance"]["started"] == "2019-01-01T00:00:00+00:00"
    assert "last resumed" in (out / "grid.html").read_text()
    # Once more with every run finished: the report is rebuilt, when the study ran is not moved,
    # and a report that would differ only in when it was written is left as it was.
    md = out / "grid.md"
    dated = re.sub(
        r"report written [^_]* UTC", "report written 2000-01-01 00:00 UTC", md.read_text()
    )
    md.write_text(dated)
    subprocess.run(_grid_cmd(out, "--threads", "1"), check=True, capture_output=True, timeout=600)
    assert json.loads((out / "grid.json").read_text())["provenance"] == prov
    assert md.read_text() == dated and "2000-01-01" in dated

    before = sorted(p.name for p in out.iterdir())
    other = subprocess.run(
        _grid_cmd(out, "--threads", "1", "--axis", "model.depth=8,14"),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        other.returncode == 2
        and "different config" in other.stderr
        and "Traceback" not in other.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_cell_that_raises_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    real = study.train_model

    def flaky(spec, *a, **kw):
        if spec.config.model.skip:
            raise RuntimeError("simulated failure\nsecond line")
        return real(spec, *a, **kw)

    monkeypatch.setattr(study, "train_model", flaky)
    cfg = resolve("grid-smoke", None, {"train.diagnostics": False, "train.epochs": 1})
    rows = run_grid(cfg, tmp_path / "g", log=lambda s: None)
    by_cell = {r["cell"]: r for r in rows}
    assert by_cell["depth8_skip-on"]["outcome"] == "error"
    assert by_cell["depth8_skip-on"]["error"] == "RuntimeError: simulated failure"
    assert (
        by_cell["depth8_skip-off"]["outcome"] in ("learned", "failed")
        and by_cell["depth8_skip-off"]["steps"] > 0
    )
    blob = json.loads((tmp_path / "g" / "grid.json").read_text())
    assert [s["outcomes"]["error"] for s in blob["summary"]] == [0, 1]


def test_a_data_axis_changes_the_data_each_run_trains_on(tmp_path):
    cfg = resolve(
        "grid-smoke",
        None,
        {
            "train.diagnostics": False,
            "train.epochs": 1,
            "grid.axes": ["model.depth=8", "data.train_subset=200,400"],
        },
    )
    rows = run_grid(cfg, tmp_path / "g", log=lambda s: None)
    assert [r["steps"] for r in rows] == [4, 7]  # ceil(200 / 64), ceil(400 / 64)


def test_a_diverging_cell_is_recorded_as_diverged(tmp_path):
    cfg = resolve(
        "grid-smoke",
        None,
        {
            "train.diagnostics": False,
            "train.epochs": 2,
            "model.init": "kaiming",
            "model.norm": "none",  # without BN, lr 1e6 overflows (BN would rescale it)
            "grid.axes": ["model.depth=8", "optim.lr=0.05,1e6"],
        },
    )
    rows = run_grid(cfg, tmp_path / "g", log=lambda s: None)
    assert [r["outcome"] for r in rows][1] == "diverged" and rows[1]["diverged_at_step"] is not None
    assert rows[0]["outcome"] != "diverged"


def test_summary_gives_mean_and_std_over_seeds():
    def row(seed, acc, outcome="learned", step=10):
        return {
            "cell": "c",
            "settings": {"model.depth": 8},
            "seed": seed,
            "outcome": outcome,
            "best_val_acc": acc,
            "test_acc": acc - 1,
            "threshold_step": step,
            "verdict_init": "healthy",
            "left_ln": True,
        }

    (s,) = summarise([row(0, 30.0), row(1, 40.0), row(2, 35.0, "failed", None)])
    assert s["best_val_acc"] == pytest.approx([35.0, 5.0]) and s["test_acc"][0] == pytest.approx(
        34.0
    )
    assert s["outcome"] == "mixed" and s["outcomes"]["learned"] == 2 and s["passed"] == 2
    assert s["threshold_step"] == pytest.approx([10.0, 0.0])


@pytest.mark.slow
def test_submitit_local_executor_gives_the_same_rows_as_inline(tmp_path):
    pytest.importorskip("submitit")
    cfg = resolve(
        "grid-smoke",
        None,
        {
            "train.diagnostics": False,
            "train.epochs": 1,
            "grid.axes": [
                "model.depth=8",
                "model.skip=false,true",
                "optim.name+optim.lr=sgd+0.01,adam+0.001",
            ],
        },
    )
    inline = run_grid(cfg, tmp_path / "inline", log=lambda s: None)
    jobs = run_grid(cfg, tmp_path / "jobs", how=study.Launch("submitit"), log=lambda s: None)
    assert len(inline) == len(jobs) == 4 and (tmp_path / "jobs" / "submitit").is_dir()
    for a, b in zip(inline, jobs):
        assert a["run"] == b["run"] and b["outcome"] != "error", b.get("error")
        for key in (
            "final_train_loss",
            "final_val_acc",
            "test_acc",
            "steps",
            "outcome",
            "verdict_init",
        ):
            assert a[key] == b[key], (a["run"], key)


def test_first_start_is_the_earliest_readable_zoned_start(tmp_path):
    """Offsets compare as instants; unreadable, missing, null and naive starts are skipped."""
    runs = [study.PlannedRun("c", {}, seed=0, name=f"r{i}", model="cifar_net") for i in range(6)]
    starts = [
        "2026-11-30T12:00:00+02:00",  # 10:00 UTC: the earliest instant
        "2026-11-30T10:30:00+00:00",
        None,
        "2026-11-30T09:00:00",  # naive: no instant to compare
        "not a time",
    ]
    for run, start in zip(runs, starts):
        (tmp_path / run.name).mkdir()
        (tmp_path / run.name / "run.json").write_text(
            json.dumps({"provenance": {"started": start}})
        )
    # runs[5] has no run.json at all.
    now = "2026-11-30T11:00:00+00:00"
    assert grid_mod.first_start(tmp_path, runs, now) == "2026-11-30T12:00:00+02:00"
    assert grid_mod.first_start(tmp_path, runs[1:], now) == "2026-11-30T10:30:00+00:00"
    assert grid_mod.first_start(tmp_path, runs[2:], now) == now


# ---------------------------------------------------------------- several runs at once (--jobs)


def _rows(out):
    keys = ("run", *SAME_NUMBERS)
    return [{k: r[k] for k in keys} for r in json.loads((out / "grid.json").read_text())["runs"]]


def test_jobs_give_each_run_the_numbers_it_has_alone_at_the_same_thread_count(
    tmp_path, capfd, reference
):
    """Two runs at once, one thread each, against one after another at one thread: the same numbers
    to the last bit, every epoch line prefixed with its run, each run's thread count recorded."""
    args = [*SMOKE, "--epochs", "4", "--threads", "1"]
    assert main(["grid", *args, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0
    out = capfd.readouterr().out  # the workers write to the file descriptor, not to sys.stdout
    assert "local jobs: 2 run(s), 2 at a time" in out
    assert "[depth8_skip-on_seed0] [Epoch 02]" in out
    assert _rows(reference) == _rows(tmp_path / "jobs")
    for run in ("depth8_skip-off_seed0", "depth8_skip-on_seed0"):
        a, b = (d / run / "metrics.jsonl" for d in (reference, tmp_path / "jobs"))
        strip = [
            {k: v for k, v in json.loads(l).items() if k != "seconds"}
            for l in a.read_text().splitlines()
        ]
        also = [
            {k: v for k, v in json.loads(l).items() if k != "seconds"}
            for l in b.read_text().splitlines()
        ]
        assert strip == also
        saved = (tmp_path / "jobs" / run / "config.yaml").read_text()
        assert "threads: 1" in saved


def test_a_failing_run_does_not_stop_the_other_jobs(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["grid", *SMOKE, "--axis", "data.val_size=100,100000", "--jobs", "2", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "val_size100000" in err and "error" in err
    rows = {r["run"]: r for r in json.loads((out / "grid.json").read_text())["runs"]}
    assert [r["outcome"] for r in rows.values()].count("error") == 1
    assert any(r["outcome"] in ("learned", "failed") for r in rows.values())


def test_a_run_keeps_the_thread_count_it_started_with(tmp_path):
    from resnet_lab.local_jobs import thread_share

    cfg = resolve("grid-smoke", None, {})
    started = tmp_path / "run"
    started.mkdir()
    (started / "config.yaml").write_text("train:\n  threads: 3\n")
    assert thread_share(cfg, started, jobs=8).train.threads == 3  # as it started
    fresh = thread_share(cfg, tmp_path / "new", jobs=2).train.threads
    assert fresh >= 1
    user = resolve("grid-smoke", None, {"train.threads": 1})
    assert thread_share(user, started, jobs=8).train.threads == 1  # the user's choice wins
    alone = tmp_path / "alone"  # started one at a time: torch's default, kept as it was
    alone.mkdir()
    (alone / "config.yaml").write_text("train:\n  threads: 0\n")
    assert thread_share(cfg, alone, jobs=2).train.threads == 0


def test_jobs_are_lowered_to_what_fits_in_memory(monkeypatch, capsys):
    from resnet_lab import local_jobs
    from resnet_lab.data import synthetic

    data = synthetic(200, 50)
    monkeypatch.setattr(local_jobs, "available_memory", lambda: 3 * 10**6)
    assert local_jobs.jobs_that_fit(8, data, model_bytes=10**6, log=print) < 8
    assert "fit in memory at once" in capsys.readouterr().err


def test_jobs_are_refused_with_submitit(tmp_path, capsys):
    assert (
        main(
            ["grid", *SMOKE, "--launcher", "submitit", "--jobs", "2", "--out", str(tmp_path / "g")]
        )
        == 2
    )
    assert "--max-parallel" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_every_job_once_and_any_jobs_resume_to_the_same_numbers(tmp_path, reference):
    import signal
    import time

    out = tmp_path / "jobs"
    # A handler here becomes the default in the child (exec resets handlers, but keeps an ignored
    # signal ignored, as it is when the tests run in a shell's background).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            _grid_cmd(out, "--threads", "1", "--jobs", "2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    first = out / "depth8_skip-on_seed0" / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert "Traceback" not in err and len(lines) == 1 and "Resume with:" in lines[0], err
    again = subprocess.run(
        _grid_cmd(out, "--threads", "1", "--jobs", "1"), check=False, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert _rows(out) == _rows(reference)


@pytest.mark.slow
def test_a_sigterm_to_the_whole_process_group_stops_every_job_at_once(tmp_path, reference):
    """As timeout(1), `kill -- -PGID` or a batch system send it: the workers ignore it, the parent
    stops them, nobody starts a next run, one line and exit code 143, and the study resumes to the
    numbers of an uninterrupted one."""
    import os
    import signal
    import time

    out = tmp_path / "jobs"
    proc = subprocess.Popen(
        _grid_cmd(out, "--threads", "1", "--jobs", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as under timeout(1)
    )
    first = out / "depth8_skip-on_seed0" / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert "Traceback" not in err and len(lines) == 1 and "Resume with:" in lines[0], err
    finished = [
        d for d in out.iterdir() if d.is_dir() and '"completed"' in (d / "run.json").read_text()
    ]
    assert len(finished) < len(_rows(reference))  # stopped, not run to the end
    again = subprocess.run(
        _grid_cmd(out, "--threads", "1", "--jobs", "1"), check=False, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert _rows(out) == _rows(reference)


def test_jobs_take_the_longest_runs_first_and_equal_ones_in_plan_order():
    from resnet_lab.config import from_dict
    from resnet_lab.data import synthetic

    data = synthetic(1280, 50)  # 10 batches of 128 per epoch

    def run(name, depth, epochs):
        cfg = from_dict({"model": {"depth": depth}, "train": {"batch_size": 128, "epochs": epochs}})
        return study.PlannedRun("c", {}, 0, name, "cifar_net"), cfg

    # A sweep's plan order: the shallow nets first, then the deep ones.
    pending = [run("a20", 8, 2), run("b20", 8, 2), run("c56", 20, 2), run("d56", 20, 2)]
    pending.append(run("e20-long", 8, 6))  # 3x the steps of the other shallow nets
    order = [r.name for r, _ in study.longest_first(pending, data)]
    assert order[-2:] == ["a20", "b20"]  # the short ones last, equal ones in plan order
    assert order.index("c56") < order.index("d56") and set(order[:3]) == {"c56", "d56", "e20-long"}


def test_the_default_jobs_are_auto_for_a_study_large_enough_and_one_for_a_small_one(monkeypatch):
    """--jobs left out (Launch.jobs None): a study under AUTO_MIN_STEPS training steps runs one at
    a time without the probe, recorded; a larger one measures as --jobs auto does; submitit and
    torchrun keep one at a time (the default is not refused where --jobs N would be)."""
    from resnet_lab import study
    from resnet_lab.config import from_dict
    from resnet_lab.data import synthetic
    from resnet_lab.study import Launch

    data = synthetic(1280, 50)  # 10 batches of 128 per epoch
    calls = []
    monkeypatch.setattr(
        study, "choose_jobs", lambda probes, runs: calls.append(runs) or (2, {"chosen": 2})
    )

    def pending(runs, **train):
        cfg = from_dict({"train": {"batch_size": 128, **train}})
        return [(study.PlannedRun("c", {}, 0, f"r{i}", "simple_cnn"), cfg) for i in range(runs)]

    prov = {}
    small = pending(3, epochs=2)  # 60 steps
    assert study._jobs(None, small, data, prov, log=print) == 1 and not calls
    assert prov["jobs_probe"]["chosen"] == 1 and "too few" in prov["jobs_probe"]["why"]
    large = pending(4, epochs=30, max_steps=500)  # 2,000 steps
    assert study._jobs(None, large, data, {}, log=print) == 2 and calls == [4]
    assert study._jobs(1, large, data, {}, log=print) == 1 and calls == [4]
    Launch("inline", None).check()
    try:  # refused only where submitit is not installed, never for its --jobs
        Launch("submitit", None).check()
    except UserError as e:
        assert "--jobs" not in str(e)


def test_auto_takes_several_jobs_only_beyond_the_probes_noise():
    from resnet_lab.local_jobs import MIN_GAIN, pick

    assert pick({1: 1.0, 2: 1.78}) == 2
    assert pick({1: 1.0, 2: 1.014}) == 1  # a tie (the quick compare's probe): one at a time
    assert pick({1: 1.0, 2: MIN_GAIN}) == 2
    assert pick({1: 1.0, 2: 0.9}) == 1


def test_jobs_must_be_a_number_or_auto(tmp_path, capsys):
    assert main(["grid", *SMOKE, "--jobs", "many", "--out", str(tmp_path / "g")]) == 2
    assert "expected a number or auto" in capsys.readouterr().err


def test_compare_is_a_study_too_jobs_give_the_numbers_it_has_one_run_at_a_time(tmp_path, capfd):
    """compare runs on the same study engine: --jobs 2 trains its models at once, to the numbers
    the runs have one after another at the same thread count, and results.json is the same."""
    args = ["compare", "--preset", "smoke", "--models", "simple_cnn,deep_cnn", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "alone")]) == 0
    assert main([*args, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0
    assert "local jobs: 2 run(s), 2 at a time" in capfd.readouterr().out

    def rows(d):
        blob = json.loads((tmp_path / d / "results.json").read_text())
        return [{k: v for k, v in r.items() if k != "seconds"} for r in blob["results"]]

    assert rows("alone") == rows("jobs") and len(rows("jobs")) == 2


def test_an_axis_of_typed_values_is_the_axis_its_spec_parses_to():
    from resnet_lab.grid_engine import axis_of

    skip = axis_of("model.skip", [False, True])
    assert skip == parse_axis("model.skip=false,true") and skip.values == ((False,), (True,))
    joint = axis_of("optim.name+optim.lr", [("sgd", 0.01), ("adam", 1e-3)])
    assert joint == parse_axis("optim.name+optim.lr=sgd+0.01,adam+0.001")
    assert parse_axis(joint.spec) == joint and joint.values[1] == ("adam", 0.001)
    with pytest.raises(UserError, match="model.depth"):
        axis_of("model.depth", ["deep"])


def test_jobs_get_one_gpu_each_round_robin_and_none_without_a_gpu(monkeypatch):
    import queue

    import torch

    from resnet_lab import local_jobs

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert local_jobs.gpu_slots(2) == ["3", "5"]
    assert local_jobs.gpu_slots(5) == ["3", "5", "3", "5", "3"]  # more jobs than GPUs: shared
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_jobs.gpu_slots(2) is None
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert local_jobs.gpu_slots(2) is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert local_jobs.gpu_slots(3) == ["0", "1", "0"]
    # A worker takes its GPU from the queue before anything touches CUDA.
    import os

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "unset by the worker")  # restored after the test
    slots = queue.Queue()
    slots.put("1")
    import signal

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stderr = sys.stderr
    try:
        local_jobs._worker_start(slots)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    finally:
        signal.signal(signal.SIGINT, handlers[0]), signal.signal(signal.SIGTERM, handlers[1])
        sys.stderr = stderr
