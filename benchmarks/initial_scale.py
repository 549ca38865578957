"""Issue 34, step 1: the initial loss and logit scale of He et al.'s CIFAR nets, with the classifier
drawn as the rest of the net (He: ``fc_init=as_init``, resnet-lab's default) or left at PyTorch's
nn.Linear init (``fc_init=default``, as the reference Torch code leaves it).

Per net (plain/resnet 20, 56, 110), width (0.5, 1) and seed (0, 1, 2): the model is built as a run
builds it (torch.manual_seed(seed), then the builder), and one forward pass in training mode (BN on
batch statistics, as the first step sees it) on the fixed probe batch of ``diagnose`` (256 training
images of the default split, normalised, unaugmented) gives the cross-entropy and the logits' std.

    python benchmarks/initial_scale.py DATA.tar.gz > docs/results/initial-scale.json
"""

from __future__ import annotations

import json
import math
import sys
import time

import torch
import torch.nn.functional as F

from resnet_lab.config import resolve
from resnet_lab.data import load_data
from resnet_lab.diagnostics.diagnose import fixed_batch
from resnet_lab.experiment import builder_options
from resnet_lab.registry import create_model

NETS = [f"{f}{d}" for f in ("plain", "resnet") for d in (20, 56, 110)]
WIDTHS = (0.5, 1.0)
FC_INITS = ("as_init", "default")
SEEDS = (0, 1, 2)


def main(data_dir: str) -> None:
    cfg = resolve("paper-quick", None, {"data.dataset": "imagefolder", "data.data_dir": data_dir})
    data = load_data(cfg.data)
    x, y = fixed_batch(data.train, data)
    rows = []
    for name in NETS:
        for width in WIDTHS:
            for fc_init in FC_INITS:
                for seed in SEEDS:
                    wide = resolve(
                        "paper-quick",
                        None,
                        {
                            "data.dataset": "imagefolder",
                            "data.data_dir": data_dir,
                            "model.width_mult": width,
                            "model.fc_init": fc_init,
                        },
                    )
                    torch.manual_seed(seed)
                    model = create_model(name, **builder_options(name, wide, data)).train()
                    with torch.no_grad():
                        logits = model(x)
                    rows.append(
                        {
                            "net": name,
                            "width_mult": width,
                            "fc_init": fc_init,
                            "seed": seed,
                            "loss": round(F.cross_entropy(logits, y).item(), 4),
                            "logit_std": round(logits.std().item(), 4),
                        }
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    json.dump(
        {
            "what": __doc__.split("\n\n")[0],
            "ln_classes": round(math.log(data.num_classes), 4),
            "probe_images": len(y),
            "data": data.source,
            "torch": torch.__version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rows": rows,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main(sys.argv[1])
