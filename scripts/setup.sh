#!/usr/bin/env bash
# Set up speechrnn on a fresh Debian/Ubuntu machine: system packages, a virtual environment in
# .venv, and the package installed in editable mode. Safe to run again (it skips what is done).
#
#   bash scripts/setup.sh          # what transcription and the microphone need
#   bash scripts/setup.sh --dev    # plus what the tests need (TTS voices, a sound server, linters)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

# libportaudio2: microphone input; ffmpeg: formats libsndfile cannot read (m4a, aac, ...).
apt_packages=(python3-venv libportaudio2 ffmpeg)
if ((dev)); then
  # espeak-ng makes the tests' speech; PulseAudio gives the microphone test a virtual source;
  # flite and wordnet-base (the sentences and words it speaks) serve the synthetic-corpus recipe
  # and its tests; the recipe's README lists what else a full build needs (festival's voices).
  apt_packages+=(espeak-ng flite wordnet-base pulseaudio pulseaudio-utils libasound2-plugins)
fi

missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: installing system packages: ${missing[*]}" >&2
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv >&2
fi
extras=""
((dev)) && extras="[dev]"
# Quiet unless something fails; torch and torchaudio are pinned to 2.11.0 in pyproject.toml.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" >&2
echo "setup: ready (.venv)" >&2
