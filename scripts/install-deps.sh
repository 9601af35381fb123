#!/usr/bin/env bash
# Installs the Debian packages that onnxquant builds and tests against.
# Runs as root (or through sudo when it is available) on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libeigen3-dev
  libgtest-dev googletest
  libonnx-testdata
  python3 python3-venv
  time
  # Chromium renders the HTML report in tests/python/test_html_report.py, and unshare (util-linux)
  # cuts it off from the network.
  chromium util-linux
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
