#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: system packages, then a venv with the project.
# Why one script: README's run and test commands and CI all go through it, so none of them
# depends on anything installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libportaudio2 libsndfile1 pulseaudio pulseaudio-utils libasound2-plugins
              espeak-ng sox xvfb libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0
              libxcb-cursor0 libegl1 libgl1 libfontconfig1 libdbus-1-3
              chromium chromium-driver openssl)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.ser-live-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python packages into .venv"
    # torch first and pinned: 2.13.0 resolves to the local CPU wheel; anything else pulls CUDA builds.
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q "torch==2.13.0"
    .venv/bin/pip install -q -e ".[dev,onnx]"
    touch "$stamp"
fi
