#!/usr/bin/env bash
# Train, export and evaluate the shipped model exactly as the model card reports it.
# Not part of the tests: training takes about 50 minutes on 2 CPU cores.
#   bash scripts/reproduce_model.sh [MANIFEST] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-../shared/data/ser-corpus/manifest.csv}
RUN=${2:-runs/shipped}
S=.venv/bin/ser-live
$S train --manifest "$M" --out "$RUN" --overwrite --epochs 60 --threads 2 --seed 0
$S export "$RUN/best.pt" --out models --onnx
mkdir -p models/reports
# fp32 is the reference (the same figures on every machine); bf16 is what `--precision auto`
# runs on CPUs with native bfloat16, scored alike
for P in fp32 bf16; do
    R=models/reports; X=""; B="--baseline"
    [ "$P" = bf16 ] && X=_bf16 && B=""
    $S evaluate --manifest "$M" --split test --precision $P $B --out $R/test_all$X.json
    $S evaluate --manifest "$M" --split test --precision $P --corpus ravdess $B --out $R/ravdess_8class$X.json
    $S evaluate --manifest "$M" --split test --precision $P --corpus cremad $B \
        --classes angry,disgust,fearful,happy,neutral,sad --out $R/cremad_6class$X.json
    $S evaluate --manifest "$M" --split test --precision $P --corpus ravdess --corrupt noise10 \
        --out $R/ravdess_noise10dB$X.json
    $S evaluate --manifest "$M" --split test --precision $P --corpus ravdess --corrupt telephone \
        --out $R/ravdess_telephone$X.json
done
.venv/bin/python bench/bench_inference.py --json models/reports/speed.json
$S model-card models
