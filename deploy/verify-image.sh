#!/usr/bin/env bash
# Proves that the Dockerfile builds and the image serves, without Docker Hub
# and without a Docker engine (run by hand, as root, on Debian 12; not in CI:
# the image build takes 10+ minutes on 2 cores).
#
#  1. makes a local debian:bookworm base with debootstrap (minbase) from the
#     host's Debian mirror, imports it into podman and tags it
#     docker.io/library/debian:bookworm, so `FROM debian:bookworm` resolves
#     locally;
#  2. builds the image with `podman build --network host` (runc, cgroupfs,
#     raised ulimits: the default runtime crun fails on these VMs);
#  3. runs the container with --network host and, from outside it, calls
#     grpc.health.v1, TopK (with the host's tensorops CLI when built, else the
#     image's) and GET /metrics; also runs the image's HEALTHCHECK once.
#
# Environment: WORK_DIR (base rootfs cache, default /var/tmp/tensorops-image),
# IMAGE (default localhost/tensorops:verify), GRPC_PORT (50051) and
# METRICS_PORT (9464): host ports the container listens on (the HEALTHCHECK
# assumes 50051), MIRROR (default: the host's first Debian URI),
# REBUILD_BASE=1 to redo debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK_DIR=${WORK_DIR:-/var/tmp/tensorops-image}
IMAGE=${IMAGE:-localhost/tensorops:verify}
GRPC_PORT=${GRPC_PORT:-50051}
METRICS_PORT=${METRICS_PORT:-9464}
CONTAINER=tensorops-verify-$$
BASE=docker.io/library/debian:bookworm

step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "verify-image: FAILED: $*" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then fail "run as root (debootstrap and podman import)"; fi

step "installing podman, buildah, debootstrap, runc if missing"
needed=()
for package in podman buildah debootstrap runc curl; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
    grep -q "install ok installed" || needed+=("$package")
done
if ((${#needed[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${needed[@]}"
fi

PODMAN=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)
ULIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)

if [[ ${REBUILD_BASE:-0} == 1 ]] || ! "${PODMAN[@]}" image exists "$BASE"; then
  step "debootstrap --variant=minbase bookworm"
  MIRROR=${MIRROR:-$(grep -rhoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
                       awk '{print $2}' | grep -v security | head -n1)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  rootfs=$WORK_DIR/rootfs
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR"
  # The image's apt uses the same sources as the host (same mirror, plus
  # security updates), like the official image's debian.sources.
  rm -f "$rootfs/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/" ||
    echo "deb $MIRROR bookworm main" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  step "podman import + tag $BASE"
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import - localhost/debian:bookworm
  "${PODMAN[@]}" tag localhost/debian:bookworm "$BASE"
  rm -rf "$rootfs"
else
  step "base $BASE already present (REBUILD_BASE=1 redoes it)"
fi

step "podman build $IMAGE"
build_start=$SECONDS
"${PODMAN[@]}" build --network host --format docker --pull=never \
  "${ULIMITS[@]}" -t "$IMAGE" -f Dockerfile .
echo "build took $((SECONDS - build_start)) s"
"${PODMAN[@]}" image ls "$IMAGE"
"${PODMAN[@]}" image inspect --format \
  'user={{.Config.User}} ports={{.Config.ExposedPorts}} healthcheck={{.Config.Healthcheck.Test}} cmd={{.Config.Cmd}}' \
  "$IMAGE"
[[ $("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE") != "" ]] ||
  fail "the image runs as root"
if "${PODMAN[@]}" run --rm --network host "${ULIMITS[@]}" --entrypoint sh "$IMAGE" \
     -c 'dpkg -l | grep -E "^ii +[^ ]+-dev |^ii +(g\+\+|cmake) "'; then
  fail "the runtime stage has build packages"
fi

step "podman run (host network, gRPC :$GRPC_PORT, metrics :$METRICS_PORT)"
cleanup() {
  "${PODMAN[@]}" logs "$CONTAINER" 2>&1 | tail -n 20 || true
  "${PODMAN[@]}" rm -f -t 12 "$CONTAINER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"${PODMAN[@]}" run -d --name "$CONTAINER" --network host "${ULIMITS[@]}" "$IMAGE" \
  --address="0.0.0.0:$GRPC_PORT" --metrics_address="0.0.0.0:$METRICS_PORT" \
  --shutdown_timeout=8s

CLI=(${BUILD_DIR:-build}/client/tensorops)
if [[ ! -x ${CLI[0]} ]]; then
  CLI=("${PODMAN[@]}" run --rm --network host "${ULIMITS[@]}" --entrypoint tensorops "$IMAGE")
fi
CLI+=(--address="127.0.0.1:$GRPC_PORT" --timeout=5s)

step "health from outside"
for _ in $(seq 50); do
  "${CLI[@]}" health >/dev/null 2>&1 && break
  sleep 0.2
done
"${CLI[@]}" health || fail "health check"

step "TopK from outside"
topk=$("${CLI[@]}" --output=json topk '[[1.5, 9, -2, 7]]' --k=2)
echo "$topk"
tr -d ' \n' <<<"$topk" | grep -q '9.*7' || fail "TopK values"
tr -d ' \n' <<<"$topk" | grep -q '\[\[1,3\]\]' || fail "TopK indices"

step "GET /metrics from outside"
metrics=$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics")
grep -E '^tensorops_requests_total\{.*TopK.*\} [1-9]' <<<"$metrics" ||
  fail "no TopK request counted in /metrics"

if [[ $GRPC_PORT == 50051 ]]; then
  step "the image's HEALTHCHECK"
  "${PODMAN[@]}" healthcheck run "$CONTAINER" && echo "healthcheck: healthy" ||
    fail "HEALTHCHECK"
fi

step "graceful stop (SIGTERM)"
"${PODMAN[@]}" stop -t 12 "$CONTAINER" >/dev/null
code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[[ $code == 0 ]] || fail "exit code $code after SIGTERM"
echo "exited 0 after SIGTERM"

echo
echo "verify-image: OK ($IMAGE)"
