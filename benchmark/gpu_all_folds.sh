#!/usr/bin/env bash
# Train and evaluate every fold of the paper profile at once on one GPU (one process per fold), then summarise.
#
# UNTESTED ON GPU HARDWARE: written and CPU-tested (the same code path with --device cpu) in a session without a GPU.
# Fast path: images and masks held on the device, batched on-device augmentation, bf16 autocast, channels-last,
# fused Adam, torch.compile, deterministic algorithms off (cuDNN autotuning on). If torch.compile fails on your
# stack, add --no-compile; for bit-reproducible runs add --set deterministic=true (slower).
#
# Usage: benchmark/gpu_all_folds.sh [extra busi-bench run options...]
# Environment: MANIFEST, FOLDS, DATA, MODEL (default mt-unetpp), OUT (default runs/gpu_paper_<model>).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-$( [ -x .venv/bin/busi-bench ] && echo .venv/bin/busi-bench || echo busi-bench )}
MANIFEST=${MANIFEST:-manifests/curated_busi_v1/manifest.csv}
FOLDS=${FOLDS:-manifests/curated_busi_v1/folds.csv}
DATA=${DATA:-../shared/data/BUSI}
MODEL=${MODEL:-mt-unetpp}
OUT=${OUT:-runs/gpu_paper_${MODEL}}
start=$(date +%s)
"$BENCH" run --manifest "$MANIFEST" --folds "$FOLDS" --data "$DATA" --model "$MODEL" --profile paper \
    --device cuda --compile --set deterministic=false --all-folds --concurrent --out "$OUT" "$@"
echo "gpu_all_folds: 4 folds trained in $(( $(date +%s) - start )) s"
"$BENCH" summarize "$OUT"
