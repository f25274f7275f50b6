#!/usr/bin/env bash
# Everything a fresh machine needs for the demo and the tests: system packages
# (iproute2 for the network-namespace tests; nftables and miniupnpd, its
# nftables build, for the NAT test's routers; Debian's chromium for the browser
# test: never a browser download) and the locked npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v miniupnpd >/dev/null 2>&1 || [ -x /usr/sbin/miniupnpd ] || missing+=(miniupnpd-nftables)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install: ${missing[*]} (needs root)" >&2
  fi
fi

# playwright-core drives /usr/bin/chromium; it must not fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
