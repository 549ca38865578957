"""`resnet-lab compare` end to end on synthetic data, and one-line errors for bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import smoke_compare
from resnet_lab.cli import main
from resnet_lab.runs import load_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
EPOCH_LINE = re.compile(
    r"^\[Epoch \d{2}\] train \d+\.\d{4}/\d+\.\d{2}% \| val \d+\.\d{4}/\d+\.\d{2}%$"
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "smoke"
    proc = subprocess.run(
        [sys.executable, "-m", "resnet_lab.cli", "compare", "--preset", "smoke", "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_smoke_compare_prints_seed_format_epoch_lines(smoke_run):
    _, stdout = smoke_run
    lines = [l for l in stdout.splitlines() if l.startswith("[Epoch")]
    assert len(lines) == 4 * 2  # four models, two epochs
    assert all(EPOCH_LINE.match(l) for l in lines), lines


def test_smoke_compare_writes_table_json_and_metrics(smoke_run):
    out, _stdout = smoke_run
    results = json.loads((out / "results.json").read_text())
    rows = {r["model"]: r for r in results["results"]}
    assert list(rows) == ["simple_cnn", "deep_cnn", "resnet_seed", "resnet_seed_plain"]
    table = (out / "results.md").read_text()
    for name, row in rows.items():
        assert f"| {name} | {row['params']:,} |" in table
        metrics = [json.loads(l) for l in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert [m["epoch"] for m in metrics] == [1, 2]
        assert row["best_val_acc"] == max(m["val"]["acc"] for m in metrics)
        run = json.loads((out / name / "run.json").read_text())
        assert run["status"] == "completed" and run["results"]["test_acc"] == row["test_acc"]
        assert list((out / name / "tensorboard").glob("events.out.tfevents.*"))
    # the deep plain net is stuck at ln 10 while the others learn, even on toy data
    assert rows["deep_cnn"]["status"] == "failed" and "ln 10" in rows["deep_cnn"]["problem"]
    assert rows["simple_cnn"]["status"] == rows["resnet_seed"]["status"] == "learned"
    assert results["provenance"]["torch"] == torch.__version__
    # the CPU decides bf16 speed and the last digits: its model and torch's kernel level are recorded
    assert torch.backends.cpu.get_cpu_capability() in results["provenance"]["cpu"]
    assert results["config"]["preset"] == "smoke"


def test_checkpoints_load_with_plain_torch_load_and_rebuild_the_model(smoke_run):
    from resnet_lab.registry import create_model

    out, _ = smoke_run
    for name in ("epoch0000.pt", "final.pt"):
        blob = torch.load(out / "resnet_seed" / "checkpoints" / name, weights_only=True)
        assert blob["model"] == "resnet_seed" and blob["config"]["preset"] == "smoke"
        model = create_model(blob["model"], **blob["model_options"])
        model.load_state_dict(blob["state_dict"])
    init = load_checkpoint(out / "resnet_seed" / "checkpoints" / "epoch0000.pt")
    final = load_checkpoint(out / "resnet_seed" / "checkpoints" / "final.pt")
    assert (init["epoch"], final["epoch"]) == (0, 2) and len(final["history"]) == 2
    changed = [
        not torch.equal(init["state_dict"][k], final["state_dict"][k]) for k in init["state_dict"]
    ]
    assert all(changed)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resnet_lab.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--models", "vgg"], "unknown model 'vgg'"),
        (["--preset", "fast"], "unknown preset 'fast'"),
        (["--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["--optimizer", "rmsprop"], "unknown optimizer"),
        (["--epochs", "0"], "epochs must be a positive"),
        (["--batch-size", "-4"], "batch size must be a positive"),
        (["--lr", "0"], "learning rate must be a positive"),
        (["--epochs", "two"], "invalid int value"),
        (["--dataset", "cifar10", "--data-dir", "/nonexistent/cifar"], "does not exist"),
        (["--dataset", "imagefolder", "--data-dir", "{empty}"], "no train/ and test/"),
        (["--width", "0"], "width must be a positive"),
        (["--config", "{badyaml}"], "not valid YAML"),
        (["--config", "{unknownkey}"], "unknown config key 'train.epoch'"),
        (["--dataset", "imagefolder", "--data-dir", "{brokenimage}"], "cannot decode image"),
        (
            ["--dataset", "cifar10", "--data-dir", "{truncatedcifar}", "--no-download"],
            "could not be loaded",
        ),
        (["--pipeline", "pil"], "unknown pipeline 'pil'"),
        (["--amp", "fp16"], "unknown amp mode 'fp16'"),
        (["--workers", "-1"], "workers must be >= 0"),
        (["--init", "fixup"], "init 'fixup' needs residual blocks"),  # simple_cnn has none
        (["--seeds", ""], "--seeds is empty"),
        (["--seeds=-1,0"], "seeds must be between 0 and 4294967295"),
        (["--seeds", "0,1,0"], "lists 0 twice"),
        (["--seeds", "a,b"], "seeds must be int"),
        (["--seeds", "0,1", "--seed", "3"], "--seed and --seeds both given"),
        (
            ["--skip", "off"],
            "model 'simple_cnn' has no skip option",
        ),  # the default models include simple_cnn
        (
            ["--skip", "off", "--models", "resnet_seed_plain"],
            "model 'resnet_seed_plain' has no skip option",
        ),
        (["--skip", "maybe", "--models", "resnet_seed"], "model.skip must be bool"),
        (["--models", "{fixtures}/nope.py:make"], "nope.py does not exist"),
        (
            ["--models", "{fixtures}/broken.py:make"],
            "RuntimeError: this module is broken on purpose",
        ),
        (
            ["--models", "no_such_package_xyz.nets:make"],
            "cannot import no_such_package_xyz.nets (ModuleNotFoundError",
        ),
        (["--models", "{fixtures}/mynet.py:missing"], "defines no 'missing'"),
        (["--models", "{fixtures}/mynet.py:NOT_CALLABLE"], "is a int, not a callable"),
        (["--models", "{fixtures}/mynet.py:not_a_model"], "returned a int, not a torch.nn.Module"),
        (
            ["--models", "{fixtures}/mynet.py:wrong_output"],
            "returns (2, 11) for a batch of 2 images",
        ),
        (
            ["--models", "{fixtures}/mynet.py:fixed_size"],
            "fails on the data's (3, 32, 32) images (RuntimeError",
        ),
    ],
)
def test_bad_input_gets_one_line_exit_2_and_leaves_no_run_dir(tmp_path, args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.yaml").write_text("train: {epochs: [1,\n")
    (tmp_path / "unknown.yaml").write_text("train: {epoch: 3}\n")
    for split in ("train", "test"):  # a valid layout with one image that does not decode
        for cls in ("cat", "dog"):
            (tmp_path / "imgs" / split / cls).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / split / cls / "1.png")
    (tmp_path / "imgs" / "train" / "cat" / "0.png").write_bytes(b"not a png")
    cifar = tmp_path / "c10" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (cifar / name).write_bytes(b"\x80\x04\x95")  # a pickle cut off after its header
    subst = {
        "{empty}": tmp_path / "empty",
        "{badyaml}": tmp_path / "bad.yaml",
        "{unknownkey}": tmp_path / "unknown.yaml",
        "{brokenimage}": tmp_path / "imgs",
        "{truncatedcifar}": tmp_path / "c10",
    }
    args = [a.replace("{fixtures}", str(FIXTURES)) for a in args]
    args = [str(subst.get(a, a)) for a in args]
    out = tmp_path / "out"
    proc = run_cli("compare", "--preset", "smoke", "--out", str(out), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resnet-lab: error: ") and needle in lines[0], (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_existing_output_directory_is_not_clobbered(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["compare", "--preset", "smoke", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"


def test_output_path_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["compare", "--preset", "smoke", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to output directory" in err[0]
    assert blocker.read_text() == "not a directory"


def test_diagnose_refuses_checkpoints_of_different_models(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        smoke_compare(out, "--models", "simple_cnn,deep_cnn", "--epochs", "1", "--no-tensorboard")
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "diagnose",
                str(out / "simple_cnn" / "checkpoints" / "final.pt"),
                "--against",
                str(out / "deep_cnn" / "checkpoints" / "epoch0000.pt"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass checkpoints of the same model" in err[0]
    # Flags a checkpoint's diagnosis would ignore are refused, not silently dropped.
    ckpt = str(out / "deep_cnn" / "checkpoints" / "final.pt")
    assert main(["diagnose", ckpt, "--preset", "quick", "--width", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "drop --preset, --width" in err[0]
    assert main(["diagnose", ckpt, "--device", "cpu"]) == 0


def test_help_explains_every_required_flag():
    proc = run_cli("compare", "--help")
    assert proc.returncode == 0
    for flag in (
        "--preset",
        "--dataset",
        "--data-dir",
        "--out",
        "--epochs",
        "--batch-size",
        "--optimizer",
        "--lr",
        "--width",
        "--device",
        "--seed",
        "--models",
    ):
        assert flag in proc.stdout


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert (
        "deep_cnn" in out
        and "resnet_seed" in out
        and "simple_cnn" in out
        and "notebook_resnet" in out
    )


def test_small_grayscale_image_folder_runs_end_to_end(tmp_path, capsys):
    """28x28 grayscale images (decoded to 3 channels), 30 training images: the default validation
    split is 10 % of them (not 5,000) and every default model trains and is reported."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 4)):
        for i, cls in enumerate(("a", "b", "c")):
            (tmp_path / "gray" / split / cls).mkdir(parents=True)
            for j in range(n):
                arr = np.full((28, 28), 70 * i, dtype=np.uint8) + rng.integers(
                    0, 30, (28, 28), dtype=np.uint8
                )
                Image.fromarray(arr, mode="L").save(tmp_path / "gray" / split / cls / f"{j}.png")
    out = tmp_path / "run"
    assert (
        main(
            [
                "compare",
                "--preset",
                "quick",
                "--width",
                "0.125",
                "--batch-size",
                "8",
                "--dataset",
                "imagefolder",
                "--data-dir",
                str(tmp_path / "gray"),
                "--no-tensorboard",
                "--epochs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert (
        "27 train / 3 val (default: 10 % of the training set, at most 5,000) / 12 test images"
        in text
    )
    results = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in results["results"]] == [
        "simple_cnn",
        "deep_cnn",
        "resnet_seed",
        "resnet_seed_plain",
    ]
    assert (out / "report.html").is_file()


def test_a_model_of_your_own_trains_next_to_a_registered_one(tmp_path):
    out = tmp_path / "own"
    assert (
        main(
            [
                "compare",
                "--preset",
                "smoke",
                "--epochs",
                "1",
                "--no-tensorboard",
                "--out",
                str(out),
                "--models",
                f"{FIXTURES}/mynet.py:make,resnet_seed",
            ]
        )
        == 0
    )
    blob = json.loads((out / "results.json").read_text())
    assert [r["run"] for r in blob["results"]] == ["mynet.make", "resnet_seed"]
    ckpt = load_checkpoint(out / "mynet.make" / "checkpoints" / "final.pt")
    assert ckpt["model"].endswith("mynet.py:make") and ckpt["model_options"] == {"num_classes": 10}
    assert main(["diagnose", str(out / "mynet.make" / "checkpoints" / "final.pt")]) == 0
    assert (out / "report.html").is_file()


def test_diagnose_a_checkpoint_whose_model_file_is_gone_says_what_it_needs(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    source = own / "mynet.py"
    source.write_text((FIXTURES / "mynet.py").read_text())
    out = tmp_path / "run"
    args = ["compare", "--preset", "smoke", "--epochs", "1", "--no-tensorboard", "--out", str(out)]
    assert main([*args, "--models", f"{source}:make"]) == 0
    ckpt = out / "mynet.make" / "checkpoints" / "final.pt"
    blob = torch.load(ckpt, weights_only=True)  # how to rebuild the model: its spec and options
    assert blob["model"] == f"{source}:make" and blob["model_options"] == {"num_classes": 10}
    source.unlink()
    # A fresh process: this one still holds the imported factory.
    proc = run_cli("diagnose", str(ckpt))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resnet-lab: error: "), proc.stderr
    assert f"the file {source} does not exist" in lines[0] and "put it back there" in lines[0]
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------- settings written once, flags generated


def test_every_training_setting_is_a_flag_with_its_fields_help():
    """The flags are generated from config.py's fields: each setting is --section.field (and its
    short spelling where it has one), with the field's own help, so the two cannot drift."""
    from resnet_lab.cli import build_parser
    from resnet_lab.config import settings

    compare = build_parser()._subparsers._group_actions[0].choices["compare"]
    by_dest: dict[str, list] = {}
    for action in compare._actions:
        by_dest.setdefault(action.dest, []).append(action)
    for key, f, _ in settings():
        flags = [o for a in by_dest[key] for o in a.option_strings]
        assert f"--{key}" in flags, key
        assert any(f.metadata["help"].replace("%", "%%") in (a.help or "") for a in by_dest[key])
    val = next(a for a in by_dest["data.val_size"] if "--val-size" in a.option_strings)
    assert "5000 for CIFAR-10" in val.help and "--data.val_size" in val.option_strings


def test_print_config_gives_the_yaml_that_config_takes_back(tmp_path, capsys):
    args = ["--preset", "smoke", "--lr", "0.05", "--optim.milestones", "10,20", "--no-augment"]
    assert main(["compare", *args, "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(printed)
    assert main(["compare", "--config", str(tmp_path / "c.yaml"), "--print-config"]) == 0
    assert capsys.readouterr().out == printed
    blob = yaml.safe_load(printed)
    assert blob["optim"]["milestones"] == [10, 20] and blob["data"]["augment"] is False
    assert blob["preset"] == "smoke" and blob["optim"]["lr"] == 0.05
    assert not list(tmp_path.glob("runs*"))  # nothing trained, nothing written


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--train.amp", "fp16"], "unknown amp mode 'fp16'; choose one of: auto, bf16, off"),
        (["--model.shortcut", "C"], "unknown shortcut 'C'; choose one of: A, B"),
        (["--optim.milestones", "ten"], "optim.milestones must be int"),
    ],
)
def test_generated_flags_refuse_bad_values_in_one_line(args, needle, capsys):
    assert main(["compare", "--preset", "smoke", *args, "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err
