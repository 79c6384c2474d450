#!/usr/bin/env bash
# The GPU window: on a bare GPU machine (its own torch >= 2.4, no install, no network, no ../shared),
# print the GPU, time the training step, then train the paper profile's folds concurrently from a
# packed dataset, resuming across calls, and leave at most 8 result files in $OUT.
#
#   make device-bundle                     # here: .device-bundle/ (pure-Python wheels unpacked + curated128.npz)
#   benchmark/device/run_paper.sh          # there, from the repository root; OUT=... BUDGET_S=510 MODEL=mt-unetpp
#   benchmark/device/run_paper.sh --dry-run   # the same path on the CPU with a tiny config (CI)
#
# Files in $OUT: gpu.txt, speed.jsonl, fold0..3.json (metrics, or progress when unfinished), summary.md, status.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
DRY=0; [[ "${1:-}" == "--dry-run" ]] && DRY=1
OUT=${OUT:-out}; mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.device-bundle}
PACKED=${PACKED:-$BUNDLE/curated128.npz}
MODEL=${MODEL:-mt-unetpp}
BUDGET_S=${BUDGET_S:-510}                    # stop training this many seconds after the start (per call)
RUNS=${RUNS:-/tmp/busi-bench-device/$MODEL}  # checkpoints on local disk only; a later call resumes them
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD:$PWD/$BUNDLE/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
start=$(date +%s)
if (( DRY )); then
  DEVICE=cpu; PROFILE=smoke; FOLDS=${FOLDS:-"0 1"}; EXTRA=(--image-size 64 --epochs 2 --set images_per_epoch=8 --threads 1)
  SPEED=(--device cpu --image-size 64 --steps 1 --precision fp32)
else
  DEVICE=cuda; PROFILE=paper; FOLDS=${FOLDS:-"0 1 2 3"}; EXTRA=(--precision bf16 --set augment=torch --set checkpoint_every=5)
  SPEED=(--device cuda --steps 10 --precision bf16,fp32)
fi
"$PY" - > "$OUT/gpu.txt" <<'PYEOF'
import platform, torch
print("torch", torch.__version__, "python", platform.python_version())
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PYEOF
"$PY" -m benchmark.cli speed --models "$MODEL" "${SPEED[@]}" --json > "$OUT/speed.jsonl"
pids=()
mkdir -p "$(dirname "$RUNS")"
for k in $FOLDS; do
  left=$(( BUDGET_S - ($(date +%s) - start) )); (( left > 30 )) || break
  timeout --signal=TERM "$left" "$PY" -m benchmark.cli run --packed "$PACKED" --fold "$k" --out "$RUNS" \
    --profile "$PROFILE" --model "$MODEL" --device "$DEVICE" --resume --no-progress "${EXTRA[@]}" \
    > "$RUNS.fold$k.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=$?; done
"$PY" - "$RUNS" "$OUT" $FOLDS <<'PYEOF'
import json, sys
from pathlib import Path
runs, out, folds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
lines = []
for k in folds:
    m = runs / f"fold{k}" / "metrics.json"
    if m.is_file():
        d = json.loads(m.read_text())
        d.pop("per_image", None)
        (out / f"fold{k}.json").write_text(json.dumps(d, indent=1))
        lines.append(f"fold {k}: done, dsc_avg {d.get('dsc_avg')}, acc {d.get('acc')}, epochs {d.get('epochs_run')}")
    else:
        log = Path(f"{runs}.fold{k}.log")
        tail = log.read_text().splitlines()[-3:] if log.is_file() else []
        (out / f"fold{k}.json").write_text(json.dumps({"fold": int(k), "finished": False, "log_tail": tail}, indent=1))
        lines.append(f"fold {k}: unfinished (run again to resume): {tail[-1] if tail else 'no log'}")
(out / "status.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
if ls "$RUNS"/fold*/metrics.json >/dev/null 2>&1; then
  "$PY" -m benchmark.cli summarize "$RUNS" --out "$OUT/summary.md" > /dev/null || true
fi
echo "device run: $(( $(date +%s) - start )) s; results in $OUT"
exit 0
