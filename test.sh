#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, store, and integration tests
# against the embedded Kafka broker).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
