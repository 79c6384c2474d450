#!/usr/bin/env bash
# The GPU window: on a bare GPU machine (its own torch, no install, no network, no ../shared), check the
# machine against the bundle, print the GPU, time the training step, then train the paper profile's folds
# concurrently from the bundle's packed dataset, resuming across calls, and leave at most 8 files in $OUT.
#
#   make device-bundle                     # here: .device-bundle/ (site/, requires.json, curated128.npz)
#   benchmark/device/run_paper.sh          # there, from the repository root; OUT=... BUDGET_S=510 MODEL=mt-unetpp
#   benchmark/device/run_paper.sh --dry-run   # the same path on this CPU, 1 epoch of a few images (CI)
#
# The bundle's site is appended AFTER the device's own site-packages (its torch and numpy are never shadowed).
# Exit status: 0 when every fold finished or was stopped by BUDGET_S (status.txt says which, "run again to
# resume"); 3 when the machine lacks what the bundle needs (status.txt lists it); 1 when a fold or the speed
# step failed (status.txt names each with its exit status and the last line of its log).
# Files in $OUT: status.txt, gpu.txt, speed.jsonl, fold0..3.json (metrics, or progress/failure), summary.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
DRY=0; [[ "${1:-}" == "--dry-run" ]] && DRY=1
OUT=${OUT:-out}; mkdir -p "$OUT"
BUNDLE=${BUNDLE:-.device-bundle}
PACKED=${PACKED:-$BUNDLE/curated128.npz}
MODEL=${MODEL:-mt-unetpp}
PRECISION=${PRECISION:-auto}                 # the paper profile trains in fp32 (the authors); auto = bf16 on CUDA
BUDGET_S=${BUDGET_S:-510}                    # stop training this many seconds after the start (per call)
TIME_STEP=${TIME_STEP:-1}                    # 0: skip the speed step (speed.jsonl)
RUNS=${RUNS:-/tmp/busi-bench-device/$MODEL}  # checkpoints on local disk only; a later call resumes them
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# busi-bench with the bundle's site appended after the interpreter's own site-packages
BENCH=(-c 'import runpy, site, sys; site.addsitedir(sys.argv.pop(1)); sys.argv[0] = "busi-bench"; runpy.run_module("benchmark.cli", run_name="__main__")' "$BUNDLE/site")
start=$(date +%s)
if ! "$PY" -m benchmark.device.bundle check "$BUNDLE" > "$OUT/status.txt" 2>&1; then
  { echo "FAILED: this machine cannot run the bundle (nothing was trained)"; cat "$OUT/status.txt"; } > "$OUT/status.tmp"
  mv "$OUT/status.tmp" "$OUT/status.txt"; cat "$OUT/status.txt"; exit 3
fi
if (( DRY )); then
  DEVICE=cpu; FOLDS=${FOLDS:-"0 1"}; EXTRA=(--epochs 1 --set images_per_epoch=4 --set eval_batch_size=32 --threads 1)
  SPEED=(--device cpu --steps 1 --precision fp32,auto)
else
  DEVICE=cuda; FOLDS=${FOLDS:-"0 1 2 3"}; EXTRA=(--set augment=torch --set checkpoint_every=5)
  SPEED=(--device cuda --steps 10 --precision fp32,bf16)
fi
"$PY" - > "$OUT/gpu.txt" 2>&1 <<'PYEOF'
import platform, torch
print("torch", torch.__version__, "python", platform.python_version())
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
PYEOF
failures=()
mkdir -p "$(dirname "$RUNS")"
if (( TIME_STEP )); then
  "$PY" "${BENCH[@]}" speed --models "$MODEL" --image-size 128 "${SPEED[@]}" --json > "$OUT/speed.jsonl" \
    2> "$RUNS.speed.log" || failures+=("speed: exit $? ($(tail -n 1 "$RUNS.speed.log" 2>/dev/null))")
fi
pids=(); started=()
for k in $FOLDS; do
  left=$(( BUDGET_S - ($(date +%s) - start) )); (( left > 30 )) || break
  timeout --signal=TERM "$left" "$PY" "${BENCH[@]}" run --packed "$PACKED" --fold "$k" --out "$RUNS" \
    --profile paper --precision "$PRECISION" --model "$MODEL" --device "$DEVICE" --resume --no-progress "${EXTRA[@]}" \
    > "$RUNS.fold$k.log" 2>&1 &
  pids+=($!); started+=("$k")
done
codes=()
for p in "${pids[@]}"; do wait "$p"; codes+=($?); done
"$PY" - "$RUNS" "$OUT" "${#failures[@]}" "${failures[@]}" "--" "${started[*]:-}" "${codes[*]:-}" $FOLDS <<'PYEOF'
import json, sys
from pathlib import Path
args = sys.argv[1:]
runs, out, n_fail = Path(args[0]), Path(args[1]), int(args[2])
failed = list(args[3:3 + n_fail])
rest = args[3 + n_fail + 1:]
started, codes, folds = rest[0].split(), [int(c) for c in rest[1].split()], rest[2:]
code_of = dict(zip(started, codes))
lines = []
for k in folds:
    log = Path(f"{runs}.fold{k}.log")
    tail = [t for t in (log.read_text(errors="replace").splitlines() if log.is_file() else []) if t.strip()][-3:]
    m = runs / f"fold{k}" / "metrics.json"
    code = code_of.get(k)
    if code == 0 and m.is_file():
        d = json.loads(m.read_text())
        d.pop("per_image", None)
        (out / f"fold{k}.json").write_text(json.dumps(d, indent=1))
        lines.append(f"fold {k}: done, dsc_avg {d.get('dsc_avg')}, acc {d.get('acc')}, epochs {d.get('epochs_run')}")
        continue
    state = {"fold": int(k), "finished": False, "exit_status": code, "log_tail": tail}
    (out / f"fold{k}.json").write_text(json.dumps(state, indent=1))
    if code is None:
        lines.append(f"fold {k}: not started (budget spent; run again to resume)")
    elif code in (124, 143):
        lines.append(f"fold {k}: stopped by the budget (run again to resume): {tail[-1] if tail else 'no log'}")
    else:
        failed.append(f"fold {k}: exit {code}: {tail[-1] if tail else 'no log'}")
head = [f"FAILED: {len(failed)} step(s) failed"] + failed if failed else ["ok: no step failed"]
(out / "status.txt").write_text("\n".join(head + lines) + "\n")
print("\n".join(head + lines))
sys.exit(1 if failed else 0)
PYEOF
status=$?
if ls "$RUNS"/fold*/metrics.json >/dev/null 2>&1; then
  "$PY" "${BENCH[@]}" summarize "$RUNS" --out "$OUT/summary.md" > /dev/null 2>&1 || echo "summary: failed" >> "$OUT/status.txt"
fi
echo "device run: $(( $(date +%s) - start )) s, exit $status; results in $OUT"
exit "$status"
