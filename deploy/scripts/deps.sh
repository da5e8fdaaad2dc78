#!/usr/bin/env bash
# Installs what the platform needs and this machine lacks: Debian packages
# (Tesseract with eng, spa and osd data, Leptonica, ClickHouse) and the Go
# modules of every workspace module. Safe to run again: it only installs what
# is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa tesseract-ocr-osd poppler-utils libheif-examples
  libtesseract-dev libleptonica-dev clickhouse-server clickhouse-client pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # The package's service start is refused where no init system runs; we
  # start ClickHouse ourselves, so that is expected and harmless.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "Go is required: https://go.dev/dl/" >&2; exit 1; }
for m in contracts keyservice ocr-worker analytics ingress e2e; do
  [ -f "$m/go.mod" ] && (cd "$m" && go mod download)
done
