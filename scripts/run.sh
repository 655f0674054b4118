#!/usr/bin/env bash
# The main job (README): set up whatever is missing, then classify the emotion in audio.
# With no arguments it runs on the bundled demo call; pass audio files to use your own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then set -- assets/demo_call.wav; fi
exec .venv/bin/ser-live predict "$@"
