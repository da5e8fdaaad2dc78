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

# Node.js and npm run the official Unkey SDK against the /v2 API
# (e2e/unkeysdk, TestUnkeySDK). The SDK supports Node 18 and later, so
# Debian's nodejs (18.x on bookworm) does; a newer node already here is kept.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
node_pkgs=()
((node_major >= 18)) || node_pkgs+=(nodejs)
command -v npm >/dev/null || node_pkgs+=(npm)
if ((${#node_pkgs[@]})); then
  echo "installing: ${node_pkgs[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${node_pkgs[@]}" >/dev/null
fi
# The SDK at the version package-lock.json pins, installed again whenever the
# lock file is newer than the last install (npm ci records it in node_modules).
sdk=e2e/unkeysdk
if [ ! -f "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
  echo "installing the Unkey SDK in $sdk (npm ci)"
  (cd "$sdk" && npm ci --loglevel=error)
fi

command -v go >/dev/null || { echo "Go is required: https://go.dev/dl/" >&2; exit 1; }
for m in contracts ops keyservice ocr-worker analytics ingress e2e deploy; do
  [ -f "$m/go.mod" ] && (cd "$m" && go mod download)
done
