#!/usr/bin/env bash
# Checks what docker/Dockerfile's image would do, without a Docker engine: a Debian bookworm root
# made by debootstrap (minbase, like bookworm-slim) with exactly the runtime stage's packages and
# user, the binary built as the build stage builds it (--static-swift-stdlib), run in it with
# chroot as the non-root user:
#   --help; every shared library resolved; serve with the embedded broker and the image's config
#   and volume path; healthcheck; the store file written in the volume; SIGTERM -> exit 0.
#
#   scripts/container-check.sh            (as root; the root is kept in $CONTAINER_ROOT for reruns)
#
# Needs network access to a Debian mirror ($DEBIAN_MIRROR) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${CONTAINER_ROOT:-/var/tmp/credits-ledger-container-root}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUNTIME_PACKAGES="librdkafka1 libsqlite3-0"   # as in docker/Dockerfile's runtime stage
[ "$(id -u)" -eq 0 ] || { echo "container-check: run as root (debootstrap and chroot)" >&2; exit 2; }
step() { echo "container-check: $*"; }
fail() { echo "container-check: FAILED: $*" >&2; exit 1; }

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
scripts/install-deps.sh >/dev/null

if [ ! -f "$ROOT/.runtime-ready" ]; then
    step "debootstrap bookworm (minbase) into $ROOT"
    rm -rf "$ROOT"
    debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/tmp/credits-debootstrap.log 2>&1 \
        || fail "debootstrap (see /tmp/credits-debootstrap.log)"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    step "runtime stage: apt-get install $RUNTIME_PACKAGES; user credits (10001); the volume"
    chroot "$ROOT" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $RUNTIME_PACKAGES \
        && rm -rf /var/lib/apt/lists/* \
        && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin credits \
        && mkdir -p /var/lib/credits-ledger && chown credits:credits /var/lib/credits-ledger" >/dev/null
    touch "$ROOT/.runtime-ready"
fi

step "build stage: swift build -c release --product credits-ledger --static-swift-stdlib"
swift build -c release --product credits-ledger --static-swift-stdlib --scratch-path .build-container \
    >/tmp/credits-container-build.log 2>&1 || fail "the static build (see /tmp/credits-container-build.log)"
install -D .build-container/release/credits-ledger "$ROOT/usr/local/bin/credits-ledger"
install -D -m 644 config/credits-ledger.yaml "$ROOT/etc/credits-ledger/credits-ledger.yaml"
rm -rf "$ROOT/var/lib/credits-ledger/"*

mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
SERVE=""
cleanup() {
    [ -n "$SERVE" ] && kill -9 "$SERVE" 2>/dev/null || true
    umount "$ROOT/proc" "$ROOT/dev" 2>/dev/null || true
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The image's environment and user.
IN=(chroot --userspec=10001:10001 "$ROOT" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent
    CREDITS_STORE_PATH=/var/lib/credits-ledger/credits-ledger.sqlite CREDITS_HTTP_PORT="$PORT")

step "shared libraries"
MISSING=$(chroot "$ROOT" ldd /usr/local/bin/credits-ledger | grep "not found" || true)
[ -z "$MISSING" ] || fail "libraries missing in the runtime image: $MISSING"
chroot "$ROOT" ldd /usr/local/bin/credits-ledger | grep -q libswiftCore && fail "the Swift runtime is linked dynamically"

step "--help"
"${IN[@]}" credits-ledger --help | grep -q "serve" || fail "--help does not list serve"

step "serve --config /etc/credits-ledger/credits-ledger.yaml (embedded broker) as uid 10001"
"${IN[@]}" credits-ledger serve --config /etc/credits-ledger/credits-ledger.yaml >/tmp/credits-container-serve.log 2>&1 &
SERVE=$!
for _ in $(seq 1 120); do
    "${IN[@]}" credits-ledger healthcheck --port "$PORT" >/dev/null 2>&1 && break
    kill -0 "$SERVE" 2>/dev/null || fail "serve exited (see /tmp/credits-container-serve.log)"
    sleep 0.5
done
"${IN[@]}" credits-ledger healthcheck --port "$PORT" >/dev/null || fail "healthcheck did not pass within 60 s"
step "healthcheck passes"
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || fail "/readyz not 200 within 60 s"
step "/readyz is 200"
OWNER=$(stat -c %u "$ROOT/var/lib/credits-ledger/credits-ledger.sqlite" 2>/dev/null || echo none)
[ "$OWNER" = 10001 ] || fail "the store file in the volume is not the credits user's (owner: $OWNER)"
step "store file written in the volume by uid 10001"

START=$(date +%s.%N)
kill -TERM "$SERVE"
STATUS=0
wait "$SERVE" || STATUS=$?
SERVE=""
[ "$STATUS" -eq 0 ] || fail "SIGTERM: exit status $STATUS (see /tmp/credits-container-serve.log)"
step "SIGTERM -> exit 0 after $(python3 -c "print(f'{$(date +%s.%N) - $START:.2f}')") s"
step "passed"
