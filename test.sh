#!/usr/bin/env bash
# Installs what is missing, checks the formatting, builds, and runs every test (unit, store, and integration tests
# against the embedded Kafka broker).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
# Formatting (.swift-format): the toolchain's swift-format; `swift format format -i -r Sources Tests` fixes it.
swift format lint --strict --recursive Sources Tests Package.swift
swift build --build-tests
swift test --skip-build "$@"
