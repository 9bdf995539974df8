#!/usr/bin/env bash
# Debian packages the project uses outside pip: poppler (the reference pipeline we compare
# against), Noto CJK (fallback font for Chinese/Japanese/Korean) and a TrueType CJK font
# (reportlab, and so the reference pipeline, cannot read CFF fonts such as Noto CJK), and
# Tesseract (an optional OCR reader, compared against the default one), and Chromium, which
# Playwright drives in the playground's browser tests and screenshots (no browser download), and
# PostgreSQL, the shared search store's server in tests (scripts/start_postgres.sh runs a private one).
set -euo pipefail
PKGS="poppler-utils fonts-noto-cjk fonts-wqy-zenhei fontconfig tesseract-ocr chromium postgresql"
missing=$(for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -z "$missing" ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
