#!/usr/bin/env bash
# Installs the system packages the build and the tests need, when they are missing (Debian):
# the C libraries the build links against, and PostgreSQL's server programs, which the tests start
# themselves in a temporary directory (no system-wide cluster is created or started).
set -euo pipefail
missing=()
for package in librdkafka-dev libsqlite3-dev pkg-config postgresql; do
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
