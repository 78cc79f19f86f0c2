#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the Flower browser test.
# Installs it when we are root with apt-get; otherwise says what is missing and exits 0:
# the test then skips with that reason (and fails under CI=true, where it must run).
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and this is not root with apt-get;"
    echo "  install it with: sudo apt-get install --no-install-recommends chromium"
    echo "  (the Flower browser test skips without it, and fails when CI=true)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
    echo "ensure_chromium: the apt package lists are empty or stale; running apt-get update"
    apt-get update -qq || true
fi
echo "ensure_chromium: installing chromium (apt-get install -y --no-install-recommends chromium)"
if apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { echo "ensure_chromium: install failed; running apt-get update and trying once more";
         apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
then
    echo "ensure_chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    echo "ensure_chromium: could not install chromium; the Flower browser test will skip"
    echo "  (or fail when CI=true). Install it by hand: apt-get install chromium"
fi
exit 0
