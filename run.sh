#!/usr/bin/env bash
# Runs credits-ledger with its defaults: an embedded Kafka broker on loopback, the store in
# data/, HTTP on :8080. Extra arguments go to `credits-ledger serve`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
swift build -c release --product credits-ledger
exec .build/release/credits-ledger serve "$@"
