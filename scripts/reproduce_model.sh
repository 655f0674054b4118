#!/usr/bin/env bash
# Train, export and evaluate the shipped model exactly as the model card reports it.
# Not part of the tests: training takes about 50 minutes on 2 CPU cores.
#   bash scripts/reproduce_model.sh [MANIFEST] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-../shared/data/ser-corpus/manifest.csv}
RUN=${2:-runs/shipped}
S=.venv/bin/ser-live
$S train --manifest "$M" --out "$RUN" --epochs 60 --threads 2 --seed 0
$S export "$RUN/best.pt" --out models --onnx
mkdir -p models/reports
$S evaluate --manifest "$M" --split test --baseline --out models/reports/test_all.json
$S evaluate --manifest "$M" --split test --corpus ravdess --baseline --out models/reports/ravdess_8class.json
$S evaluate --manifest "$M" --split test --corpus cremad --baseline \
    --classes angry,disgust,fearful,happy,neutral,sad --out models/reports/cremad_6class.json
$S evaluate --manifest "$M" --split test --corpus ravdess --corrupt noise10 --out models/reports/ravdess_noise10dB.json
$S evaluate --manifest "$M" --split test --corpus ravdess --corrupt telephone --out models/reports/ravdess_telephone.json
$S model-card models
