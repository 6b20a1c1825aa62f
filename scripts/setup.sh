#!/usr/bin/env bash
# Installs the system packages the gate needs that Go cannot bring: Debian's
# chromium, which the console's browser tests (internal/consolebrowser)
# drive, and a font for its pages and screenshots. Idempotent and silent
# when it is already there; a clear message and a failure when it is missing
# and cannot be installed here.
set -euo pipefail

# The browsers the tests find, in the order they look (chromedp's list);
# HEM_CHROME names one anywhere else.
have_browser() {
  if [[ -n "${HEM_CHROME:-}" ]]; then
    [[ -x "$HEM_CHROME" ]] && return 0
    echo "setup: HEM_CHROME=$HEM_CHROME is not an executable file (unset it to use or install chromium)" >&2
    exit 1
  fi
  local b
  for b in headless_shell headless-shell chromium chromium-browser google-chrome google-chrome-stable chrome; do
    command -v "$b" >/dev/null && return 0
  done
  for b in /snap/bin/chromium "/Applications/Chromium.app/Contents/MacOS/Chromium" \
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
    [[ -x "$b" ]] && return 0
  done
  return 1
}

cannot() {
  echo "setup: chromium is missing and $1." >&2
  echo "setup: install it (Debian/Ubuntu: apt-get install chromium; macOS: Google Chrome or Chromium in /Applications)," >&2
  echo "setup: or point HEM_CHROME at a Chrome/Chromium binary: the console's browser tests need one." >&2
  exit 1
}

have_browser && exit 0
command -v apt-get >/dev/null || cannot "this machine has no apt-get"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null || cannot "installing it needs root (run: sudo apt-get install chromium)"
  sudo=(sudo -n)
fi
echo "setup: installing Debian's chromium for the console's browser tests (apt-get, a few minutes the first time)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The package lists of a fresh machine are empty: update first.
if ! { "${sudo[@]}" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >"$log" 2>&1; then
  tail -20 "$log" >&2
  cannot "apt-get could not install it (output above)"
fi
have_browser || cannot "apt-get installed the package but no chromium is on PATH"
echo "setup: $(chromium --version 2>/dev/null || echo chromium) installed" >&2
