#!/usr/bin/env bash
# Session 2026-12-07: after the issue-28 queue (resume-28.sh) ends, issue 34's classifier-init pair,
# code frozen in /work/wt-fcinit at f3c067d. One measurement at a time (each uses both cores).
while pgrep -f "bash /work/runs_measure/resume-28.sh" >/dev/null; do sleep 60; done
cd /work/wt-fcinit && PYTHON=/work/main/.venv/bin/python bash benchmarks/fc_init_queue.sh /work/runs_measure/fc-init /work/shared/datasets/cifar10-jpeg.tar.gz
