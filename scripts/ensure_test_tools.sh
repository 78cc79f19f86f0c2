#!/usr/bin/env bash
# Make sure the test suite's system tools are there: Debian's chromium (/usr/bin/chromium, for
# the Flower, /docs and console browser tests) and promtool (Debian's prometheus package, for
# the alerting-rule tests). Installs what is missing when we are root with apt-get; otherwise
# says what is missing and exits 0: those tests then skip with that reason (and fail under
# CI=true, where they must run).
set -u

ensure() {  # ensure BINARY PACKAGE WHAT
    local binary=$1 package=$2 what=$3
    if command -v "$binary" >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure_test_tools: $binary is missing and this is not root with apt-get;"
        echo "  install it with: sudo apt-get install --no-install-recommends $package"
        echo "  ($what skip without it, and fail when CI=true)"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show "$package" >/dev/null 2>&1; then
        echo "ensure_test_tools: the apt package lists are empty or stale; running apt-get update"
        apt-get update -qq || true
    fi
    echo "ensure_test_tools: installing $package (apt-get install -y --no-install-recommends)"
    if apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
        || { echo "ensure_test_tools: install failed; running apt-get update and trying again";
             apt-get update -qq \
             && apt-get install -y -qq --no-install-recommends "$package" >/dev/null; }
    then
        echo "ensure_test_tools: installed $package"
    else
        echo "ensure_test_tools: could not install $package; $what will skip"
        echo "  (or fail when CI=true). Install it by hand: apt-get install $package"
    fi
}

ensure /usr/bin/chromium chromium "the browser tests"
ensure promtool prometheus "the alerting-rule tests"
exit 0
