#!/usr/bin/env bash
# Session 2026-12-07 (5th): after the issue-34 pair (queue-next.sh) ends, issue 33's calibration
# input: trainability-quick with seeds 0, 1, 2, code frozen in /work/wt-calib. One measurement at a time.
while pgrep -f "bash /work/runs_measure/resume-28.sh" >/dev/null || pgrep -f "bash /work/runs_measure/queue-next.sh" >/dev/null; do sleep 60; done
cd /work/wt-calib && PYTHON=/work/main/.venv/bin/python bash benchmarks/calibration_queue.sh /work/runs_measure/calibration /work/shared/datasets/cifar10-jpeg.tar.gz
