#!/usr/bin/env bash
# Everything a fresh machine needs for the demo and the tests: system packages
# (iproute2 for the network-namespace tests; nftables and miniupnpd, its
# nftables build, for the NAT test's routers) and the locked npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
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

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
