#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine, builds, and starts
# tensorops-server in the foreground. Arguments go to the server, e.g.
#   scripts/serve.sh --address=0.0.0.0:50051 --threads=8
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
# The server alone: tests and benchmarks are not needed to serve.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target tensorops-server
exec "$BUILD_DIR/server/tensorops-server" "$@"
