#!/usr/bin/env bash
# Session 2026-12-07 (5th): what runs after the issue-28 queue (resume-28.sh), one measurement at a
# time, in issue order: issue 33's calibration map (code frozen in /work/wt-s5), issue 34's
# classifier-init pair (code frozen in /work/wt-fcinit at f3c067d, as planned; its script sets no PYTHONPATH, so it is set here), then issue 34's budget
# series (/work/wt-s5). Each stage is resumable: run this script again and finished runs are skipped.
D=/work/shared/datasets/cifar10-jpeg.tar.gz
PY=/work/main/.venv/bin/python
while pgrep -f "bash /work/runs_measure/resume-28.sh" >/dev/null; do sleep 60; done
cd /work/wt-s5 && PYTHON=$PY bash benchmarks/calibration_queue.sh /work/runs_measure/calibration $D
cd /work/wt-fcinit && PYTHONPATH=/work/wt-fcinit/src PYTHON=$PY bash benchmarks/fc_init_queue.sh /work/runs_measure/fc-init $D
cd /work/wt-s5 && PYTHON=$PY bash benchmarks/budget_queue.sh /work/runs_measure/budget $D
