#!/usr/bin/env bash
# Installs what is missing (Debian). `install-deps.sh` (run.sh): the C libraries the build links
# against. `install-deps.sh tests` (test.sh) adds what the tests use: PostgreSQL's server programs, which the tests start
# themselves in a temporary directory (no system-wide cluster is created or started); Debian's
# chromium and chromium-driver for the console's browser test; and the Python packages of the
# schema check and of that test (selenium, given the driver's path, so it downloads nothing).
set -euo pipefail
packages=(librdkafka-dev libsqlite3-dev pkg-config)
[ "${1:-}" = tests ] && packages+=(postgresql chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    # Debian's postgresql package would create and start a "main" cluster; the tests never use one.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        $sudo_cmd mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | $sudo_cmd tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}"
fi
[ "${1:-}" = tests ] || exit 0
# The JSON Schema validator the tests run on output messages and the docs' examples
# (scripts/validate-json.py): PyPI's jsonschema (>= 4.18, for `referencing`) and PyYAML.
if ! python3 -c "import jsonschema, referencing, yaml" >/dev/null 2>&1; then
    echo "installing: jsonschema, pyyaml (PyPI)"
    python3 -m pip install --quiet "jsonschema>=4.18" pyyaml 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "jsonschema>=4.18" pyyaml
fi
# schemathesis (PyPI): the tests run it against the running service and docs/openapi.yaml.
if ! python3 -c "import schemathesis" >/dev/null 2>&1; then
    echo "installing: schemathesis (PyPI)"
    python3 -m pip install --quiet "schemathesis>=4,<5" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "schemathesis>=4,<5"
fi
# selenium (PyPI): drives Debian's chromium through /usr/bin/chromedriver in the console's browser test.
if ! python3 -c "import selenium" >/dev/null 2>&1; then
    echo "installing: selenium (PyPI)"
    python3 -m pip install --quiet "selenium>=4.10" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "selenium>=4.10"
fi
