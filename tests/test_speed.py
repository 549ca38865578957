"""The speed switches change speed, not results: a few training steps with and without each agree
within a tolerance, and the conventional (DataLoader) pipeline feeds the very same images."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tarfile

import pytest
import torch

from resnet_lab.bench import fresh_state
from resnet_lab.cli import main
from resnet_lab.config import resolve
from resnet_lab.data import load_data, make_batches
from resnet_lab.train import amp_enabled, evaluate, setup_runtime, train_step

CPU = torch.device("cpu")


def _cfg(**overrides):
    base = {
        "data.synthetic_train": 456,
        "data.val_size": 100,
        "data.augment": False,
        "train.epochs": 1,
        "train.batch_size": 32,
        "train.eval_batch_size": 50,
        "data.workers": 0,
    }
    return resolve("smoke", None, {**base, **overrides})


def _steps(cfg, name="resnet_seed", n=4):
    """Losses of ``n`` training steps from the same init, and the parameters after them."""
    data = load_data(cfg.data)
    state = fresh_state(name, cfg, data, CPU)
    batches = iter(make_batches(data, cfg, CPU)["train"])
    losses, dtypes = [], set()
    for _ in range(n):
        logits, loss = train_step(state, *next(batches))
        losses.append(loss.item())
        dtypes.add(logits.dtype)
    params = torch.cat([p.detach().flatten() for p in state.model.parameters()])
    return torch.tensor(losses), params, dtypes


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_channels_last_switch_gives_the_same_steps():
    on, p_on, _ = _steps(_cfg(**{"train.channels_last": True}))
    off, p_off, _ = _steps(_cfg(**{"train.channels_last": False}))
    assert torch.allclose(on, off, rtol=1e-4, atol=1e-5)
    assert _rel(p_on, p_off) < 1e-4


def test_thread_count_switch_gives_the_same_steps():
    before = torch.get_num_threads()
    try:
        setup_runtime(_cfg(**{"train.threads": 1}).train)
        assert torch.get_num_threads() == 1
        one, p_one, _ = _steps(_cfg())
        torch.set_num_threads(2)
        two, p_two, _ = _steps(_cfg())
    finally:
        torch.set_num_threads(before)
    assert torch.allclose(one, two, rtol=1e-4, atol=1e-5)
    assert _rel(p_one, p_two) < 1e-4


def test_bf16_autocast_is_on_only_when_asked_or_on_a_gpu_and_stays_close_to_fp32():
    assert not amp_enabled(_cfg().train, CPU)  # auto: CPUs keep fp32
    assert amp_enabled(_cfg(**{"train.amp": "bf16"}).train, CPU)
    bf16, p_bf16, dtypes = _steps(_cfg(**{"train.amp": "bf16"}))
    fp32, p_fp32, dtypes32 = _steps(_cfg(**{"train.amp": "off"}))
    assert dtypes == {torch.bfloat16} and dtypes32 == {torch.float32}  # the switch really switches
    assert torch.allclose(bf16, fp32, atol=0.02)  # bf16 keeps 8 bits of mantissa: ~0.4 % per op
    assert 0 < _rel(p_bf16, p_fp32) < 1e-2


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="torch.compile on a CPU needs a C compiler",
)
def test_compile_switch_gives_the_same_training_and_diagnostics_still_record(tmp_path):
    from resnet_lab.diagnostics.diagnose import fixed_batch
    from resnet_lab.diagnostics.hooks import DiagnosticsCallback
    from resnet_lab.train import fit

    histories, records = {}, {}
    for compiled in (False, True):
        cfg = _cfg(**{"train.compile": compiled, "data.synthetic_train": 228})
        data = load_data(cfg.data)
        state = fresh_state("simple_cnn", cfg, data, CPU)
        assert (state.compiled is not None) == compiled
        diag = DiagnosticsCallback(
            tmp_path / f"{compiled}.jsonl", fixed_batch(data.train, data), every=2
        )
        histories[compiled] = fit(state, make_batches(data, cfg, CPU), [diag])
        records[compiled] = [r for r in diag.records if r["phase"] == "train"]
    assert histories[True][0]["train"]["loss"] == pytest.approx(
        histories[False][0]["train"]["loss"], rel=1e-4
    )
    assert histories[True][0]["val"]["acc"] == pytest.approx(
        histories[False][0]["val"]["acc"], abs=1.0
    )
    # Recorded steps run the plain model, so the forward hooks see every layer.
    assert len(records[True]) == len(records[False]) > 0
    assert len(records[True][0]["layers"]) == len(records[False][0]["layers"]) > 0


def _same_images(cfg):
    """Evaluate one model through both pipelines; the numbers must agree."""
    data = load_data(cfg.data)
    state = fresh_state("simple_cnn", cfg, data, CPU)
    lab = make_batches(data, cfg, CPU)
    conv = make_batches(
        data,
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, pipeline="dataloader")),
        CPU,
    )
    for split in ("val", "test"):
        a, b = evaluate(state.model, lab[split]), evaluate(state.model, conv[split])
        assert a["acc"] == b["acc"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5), split
    # Training batches without augmentation: the same images and labels over an epoch.
    sums = []
    for batches in (lab["train"], conv["train"]):
        xs, ys = zip(*batches)
        sums.append(
            (
                torch.cat(xs).double().sum(dim=(1, 2, 3)).sort().values,
                torch.cat(ys).bincount(minlength=10),
            )
        )
    assert torch.allclose(sums[0][0], sums[1][0], atol=1e-3) and torch.equal(sums[0][1], sums[1][1])


def test_dataloader_pipeline_feeds_the_same_images_synthetic():
    _same_images(_cfg())


def test_dataloader_pipeline_feeds_the_same_images_from_an_archive_in_any_member_order(tmp_path):
    from PIL import Image

    src = tmp_path / "src"
    rng = torch.Generator().manual_seed(1)
    members = []
    for split, n in (("train", 30), ("test", 6)):
        for cls in ("cat", "dog", "emu"):
            for i in range(n // 3):
                path = src / "set" / split / cls / f"{i:02d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(
                    torch.randint(0, 256, (8, 8, 3), generator=rng, dtype=torch.uint8).numpy()
                ).save(path)
                members.append(path)
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for path in reversed(members):  # not the sorted order ImageFolder uses
            tf.add(path, arcname=str(path.relative_to(src)))
    cfg = _cfg(**{"data.dataset": "imagefolder", "data.data_dir": str(archive), "data.val_size": 8})
    _same_images(cfg)


def test_bench_measures_both_pipelines_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--preset",
                "smoke",
                "--models",
                "simple_cnn",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--repeats",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "conventional" in text and "ratio" in text and "matmul ceiling" in text
    row = json.loads((out / "bench.json").read_text())["throughput"]["models"][0]
    assert row["model"] == "simple_cnn" and len(row["all_images_per_s"]["conventional"]) == 2
    assert row["ratio"] == pytest.approx(
        row["images_per_s"]["resnet-lab"] / row["images_per_s"]["conventional"]
    )
    assert row["gflop_per_step"] > 0 and 0 < row["utilisation"] < 2


def test_bench_rejects_bad_counts_and_an_existing_output(tmp_path, capsys):
    assert main(["bench", "--preset", "smoke", "--steps", "0"]) == 2
    assert "--steps, --diag-steps and --repeats must be >= 1" in capsys.readouterr().err
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["bench", "--preset", "smoke", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"


def test_bench_diagnostics_mode_times_training_with_and_without_recording(tmp_path):
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--preset",
                "smoke",
                "--models",
                "simple_cnn",
                "--mode",
                "diagnostics",
                "--diag-steps",
                "4",
                "--diag-every",
                "2",
                "--repeats",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "bench.json").read_text())
    assert "throughput" not in report and report["diagnostics"]["every"] == 2
    row = report["diagnostics"]["models"][0]
    assert len(row["all_images_per_s"]["off"]) == len(row["all_images_per_s"]["on"]) == 2
    # The "with" side really recorded: init probe, a record every 2nd of 4 steps, final probe.
    assert row["records"] == 4
    assert len(row["all_slowdowns"]) == 2
    assert row["slowdown"] == pytest.approx(sum(row["all_slowdowns"]) / 2)  # the median of two


@pytest.mark.slow
def test_bench_study_times_a_whole_study_both_ways_and_records_the_probe(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("sweep: {seeds: [0], depths: [8]}\ntrain: {epochs: 1}\n")
    out = tmp_path / "b"
    args = ["bench", "--preset", "sweep-smoke", "--config", str(cfg), "--mode", "study"]
    assert main([*args, "--repeats", "1", "--out", str(out)]) == 0
    study = json.loads((out / "bench.json").read_text())["study"]
    assert study["runs"] == 2 and len(study["seconds"]["one at a time"]) == 1
    assert study["ratio_of_medians"] == pytest.approx(
        study["seconds"]["one at a time"][0] / study["seconds"]["jobs auto"][0]
    )
    assert "study: one at a time" in capsys.readouterr().out
    # --jobs auto measured before it chose, and the study's grid.json records the probe.
    probe = json.loads((out / "study-0-auto" / "grid.json").read_text())["provenance"]["jobs_probe"]
    assert probe["chosen"] == study["jobs_chosen"][0]
    if probe["cores"] % 2 == 0:  # 1 and 2 jobs were both candidates (2 runs), so both were timed
        assert set(probe["step_seconds"]["1"]) == {"smallest", "largest"}
        assert probe["throughput_vs_one_job"]["1"] == 1.0
