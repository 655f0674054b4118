#!/usr/bin/env bash
# The main job (README): set up whatever is missing, then monitor live emotion.
# With a microphone it listens to the default input device; with none it monitors the
# bundled demo call at real-time pace. Extra arguments go to `ser-live monitor`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if .venv/bin/ser-live devices >/dev/null 2>&1; then
    exec .venv/bin/ser-live monitor --format text "$@"
fi
echo "no microphone found: monitoring the bundled demo call (assets/demo_call.wav) in real time" >&2
exec .venv/bin/ser-live monitor --input assets/demo_call.wav --realtime --format text "$@"
