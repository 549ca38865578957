# Sourced by the measurement queues (seed_escape_queue.sh, calibration_queue.sh, fc_init_queue.sh,
# budget_queue.sh): one stage at a time, its start and end (with the command's real exit code) in the
# queue's log, and, where KEEP_TO is set, its results kept by keep.sh into KEEP_TO/<stage> every 5
# minutes while it runs and once at its end: the measurement machines are not kept between
# sessions, so whatever the queue finished must be in the repository's working tree (then
# committed) to count. A stage whose study directory is missing but kept starts from the kept copy
# (restore), so running the queue again on a new machine skips the runs finished on earlier ones.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
export PYTHONPATH="$here/src"  # this checkout's code, whatever the Python's own install points at

restore() {  # restore NAME STUDY_DIR: a stage kept by an earlier machine, back where it resumes
  local name=$1 dir=$2
  if [ -n "${KEEP_TO:-}" ] && [ -d "$KEEP_TO/$name" ] && [ ! -e "$dir" ]; then
    mkdir -p "$dir" && cp -r "$KEEP_TO/$name/." "$dir/"
  fi
}

stage() {  # stage QUEUE_LOG NAME STUDY_DIR COMMAND... (the command's output: STUDY_DIR.log)
  local log=$1 name=$2 dir=$3
  shift 3
  restore "$name" "$dir"
  echo "$(date -u +%FT%TZ) start $name at $(git -C "$here" rev-parse --short HEAD): ${*:2}" >>"$log"
  "$@" >>"$dir.log" 2>&1 &
  local pid=$! rc keeper=
  if [ -n "${KEEP_TO:-}" ]; then
    bash "$here/benchmarks/keep.sh" "$dir" "$KEEP_TO/$name" 300 "$pid" >>"$log" 2>&1 &
    keeper=$!
  fi
  wait "$pid"
  rc=$?  # before the echo: its $(date) would reset $?
  [ -n "$keeper" ] && wait "$keeper"  # its last pass, after the stage's end
  echo "$(date -u +%FT%TZ) end $name rc=$rc" >>"$log"
  return "$rc"
}

compare_stage() {  # compare_stage QUEUE_LOG NAME DIR COMPARE_ARGS...: a compare into DIR, or, when
  # DIR already holds one (an earlier machine's, kept and restored), that one resumed: compare,
  # unlike grid and sweep, continues only with --resume.
  local log=$1 name=$2 dir=$3
  shift 3
  restore "$name" "$dir"
  if [ -f "$dir/config.yaml" ]; then
    stage "$log" "$name" "$dir" "$py" -m resnet_lab.cli compare --resume "$dir"
  else
    stage "$log" "$name" "$dir" "$py" -m resnet_lab.cli compare "$@" --out "$dir"
  fi
}
