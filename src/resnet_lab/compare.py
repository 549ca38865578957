"""``resnet-lab compare``: train several models under identical settings and judge each run.

Each model is one run of ``experiment.py`` (built, trained, judged and diagnosed there); this
module keeps what is specific to compare: the loop over ``cfg.models`` in one output directory,
the results table and resuming an interrupted compare.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from .config import ExperimentConfig, from_dict, to_dict
from .data import load_data
from .errors import UserError
from .experiment import ResultRow, builder_options, train_model, train_or_resume
from .registry import create_model
from .runs import now, prepare_dir, provenance, write_json, write_yaml
from .train import amp_enabled, setup_runtime


def results_markdown(rows: list[ResultRow], cfg: ExperimentConfig, source: str, amp: bool) -> str:
    """The seed's results table (model, accuracy, status, problem) with the extra columns."""
    lines = [
        "| model | params | best val acc | test acc | status | problem | time |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['best_val_acc']:.2f}% (ep {r['best_val_epoch']}) "
                     f"| {r['test_acc']:.2f}% | {r['status']} | {r['problem']} | {r['seconds']:.0f} s |")
    o = cfg.optim
    setting = (f"{cfg.optim.name} lr {o.lr}" + (f" momentum {o.momentum}" if o.name == "sgd" else "")
               + f", weight decay {o.weight_decay}, batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, "
               f"width x{cfg.model.width_mult}, init {cfg.model.init}, norm {cfg.model.norm}, "
               f"augment {'on' if cfg.data.augment else 'off'}, seed {cfg.train.seed}, "
               f"{cfg.data.pipeline} pipeline, {'bf16 autocast' if amp else 'fp32'}")
    return (f"# resnet-lab compare ({cfg.preset} preset)\n\n" + "\n".join(lines) + "\n\n"
            f"Settings: {setting}.  \nData: {source}.  \n"
            "Test accuracy is the final model's; best validation accuracy picks no model.\n")


def run_compare(cfg: ExperimentConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = False,
                log: Callable[[str], None] = print) -> list[ResultRow]:
    """Train every model of ``cfg.models`` in ``out_dir/<model>/`` and write the results table.

    All input checks (config, data, device) happen before ``out_dir`` is created, so bad input
    leaves nothing behind; ``results.json`` is written only when every model has finished.
    ``resume``: ``out_dir`` is an interrupted compare; finished models are kept, the rest continue.
    """
    data = load_data(cfg.data)
    device = setup_runtime(cfg.train)
    for name in cfg.models:  # options a model cannot be built with fail here, before anything is written
        create_model(name, **builder_options(name, cfg, data))
    out = Path(out_dir) if resume else prepare_dir(out_dir, overwrite=overwrite)
    prov = provenance(device, data.source)
    write_yaml(out / "config.yaml", to_dict(cfg))
    log(f"data: {data.source}; {len(data.train):,} train / {len(data.val):,} val / "
        f"{len(data.test):,} test images; device {prov['device']}; output {out}")
    rows = []
    for name in cfg.models:
        train = partial(train_model, name, cfg, data, device, out / name, {"provenance": prov}, log)
        rows.append(train_or_resume(out / name, train, log, name))
    table = results_markdown(rows, cfg, data.source, amp_enabled(cfg.train, device))
    (out / "results.md").write_text(table)
    prov["finished"] = now()
    write_json(out / "results.json", {"config": to_dict(cfg), "provenance": prov, "results": rows})
    log("\n" + table)
    return rows


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved config an interrupted run was started with (for ``--resume``)."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    try:
        return from_dict(yaml.safe_load(path.read_text()), f"{path}")
    except (OSError, yaml.YAMLError):
        raise UserError(f"{run_dir} is not a resumable resnet-lab run (no readable config.yaml); pass the --out "
                        "directory of an interrupted run") from None
