#!/usr/bin/env bash
# GPU check (issue 7), one prepared run for a machine with a CUDA GPU:
#   1. the CUDA tests of the attribution engine (CUDA maps match CPU maps, model left on the CPU);
#   2. CUDA vs CPU equality of every paper method and control on 32 beats, with torch's default
#      TF32 setting and with TF32 off (JSON: $OUT/devices.json);
#   3. `ecgsignal bench --device cuda` (targets: engine >= 20x the per-beat loop for gradient
#      methods, efficiency <= 1.2; JSON: $OUT/bench_cuda.json);
#   4. the same machine's CPU baseline for the engine sections ($OUT/bench_cpu.json).
#
# Needs a Python with torch built for CUDA, captum, quantus, numpy, scipy, pandas, pyyaml and
# tqdm; this checkout's package is used from src/ when it is not installed. Nothing is
# downloaded. Environment knobs:
#   PYTHON=/path/to/python   (default: .venv/bin/python if present, else python3)
#   OUT=folder               (default: results/gpu)
#   STEPS="tests equality bench cpu"   (a subset runs only those steps)
#   QUICK=1                  (bench --quick: a minute instead of several)
#   DEVICE=cpu               (dry run of the plumbing on a machine without a GPU: compares
#                             CPU with CPU; the numbers then say nothing about GPUs)
# Exit status: 0 when every step ran and passed, 3 without CUDA, 1 when a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${OUT:-results/gpu}
STEPS=${STEPS:-"tests equality bench cpu"}
DEVICE=${DEVICE:-cuda}
QUICK_FLAG=""
[ "${QUICK:-0}" = "1" ] && QUICK_FLAG="--quick"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
wants() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if ! "$PY" -c "import ecgsignal" 2>/dev/null; then
  export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi

say "machine"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader; } 2>&1 | tee -a "$LOG"
if ! "$PY" - <<'EOF' 2>&1 | tee -a "$LOG"; then
import sys
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"available {torch.cuda.is_available()}")
if not torch.cuda.is_available():
    sys.exit(3)
print("device:", torch.cuda.get_device_name(0), "| cudnn.allow_tf32 =",
      torch.backends.cudnn.allow_tf32)
EOF
  if [ "$DEVICE" != "cpu" ]; then
    say "no CUDA device: nothing to check"
    exit 3
  fi
  say "DEVICE=cpu: dry run of the plumbing, CPU against CPU"
fi

status=0
if wants tests; then
  say "1/4 CUDA tests of the engine"
  timeout 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_attribution.py -k cuda 2>&1 \
    | tail -n 5 | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" = "0" ] || status=1
fi

if wants equality; then
  say "2/4 $DEVICE vs CPU equality (32 beats, every paper method and control)"
  timeout 300 "$PY" - "$OUT/devices.json" "$DEVICE" <<'EOF' 2>&1 | tee -a "$LOG"
import sys

from ecgsignal.io import write_json
from ecgsignal.run.bench import DEVICE_TOLERANCE, compare_devices

dev = sys.argv[2]
res = {"tolerance_rel": DEVICE_TOLERANCE,
       "tf32_default": compare_devices(dev, "cpu", n_beats=32),
       "tf32_off": compare_devices(dev, "cpu", n_beats=32, tf32=False)}
write_json(sys.argv[1], res)
bad = 0
for key in ("tf32_default", "tf32_off"):
    for r in res[key]:
        print(f"{key:<13} {r['method']:<22} max abs {r['max_abs_diff']:.2e}  "
              f"rel {r['max_rel_diff']:.2e}  {'ok' if r['ok'] else 'DIFFERS'}")
        bad += not r["ok"]
sys.exit(1 if bad else 0)
EOF
  [ "${PIPESTATUS[0]}" = "0" ] || status=1
fi

if wants bench; then
  say "3/4 ecgsignal bench --device $DEVICE $QUICK_FLAG"
  timeout 560 "$PY" -m ecgsignal.run.cli bench --device "$DEVICE" $QUICK_FLAG \
    --sections engine,efficiency,randomization,generator --out "$OUT/bench_cuda.json" 2>&1 \
    | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" = "0" ] || status=1
fi

if wants cpu; then
  say "4/4 the same machine's CPU: engine sections"
  timeout 560 "$PY" -m ecgsignal.run.cli bench --device cpu --quick \
    --sections engine,efficiency --out "$OUT/bench_cpu.json" 2>&1 | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" = "0" ] || status=1
fi

say "done (status $status); results in $OUT"
exit $status
