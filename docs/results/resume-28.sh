#!/usr/bin/env bash
# Session 2026-12-06 (3rd): finish `controls` and `recipe-seed2` with the code the first cells ran (ef412a9),
# then plain-sgd-seeds and seed-plain-sgd from 20bed08 (stages that exist only there).
D=/work/shared/datasets/cifar10-jpeg.tar.gz
R=/work/runs_measure/seed-escape
cd /work/wt-escape && PYTHON=/work/main/.venv/bin/python bash benchmarks/seed_escape_queue.sh $R $D
cd /work/wt-escape-20bed08 && PYTHON=/work/main/.venv/bin/python bash benchmarks/seed_escape_queue.sh $R $D plain-sgd-seeds seed-plain-sgd
