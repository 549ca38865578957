"""``resnet-lab models``."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    sub.add_parser("models", help="list registered models with their options and parameter counts")


def run(args: argparse.Namespace) -> int:
    from ..registry import create_model, list_models, model_options

    for name in list_models():
        params = sum(p.numel() for p in create_model(name).parameters())
        print(f"{name:16s} {params:>11,} params   options: {', '.join(model_options(name))}")
    return 0
