#!/usr/bin/env bash
# Installs what is missing, checks the formatting, builds, and runs every test (unit, store, and integration tests
# against the embedded Kafka broker).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh tests
# Formatting (.swift-format): the toolchain's swift-format; `swift format format -i -r Sources Tests` fixes it.
swift format lint --strict --recursive Sources Tests Package.swift
swift build --build-tests
# CI also checks the container image's runtime stage without a Docker engine (about 8 minutes the
# first time: debootstrap and a static build; 40 s when both are cached).
if [ "${CREDITS_CONTAINER_CHECK:-0}" = 1 ]; then scripts/container-check.sh; fi
# The simulator's seeds replay the same in every process when dictionaries iterate alike.
SWIFT_DETERMINISTIC_HASHING=1 swift test --skip-build "$@"
