#!/usr/bin/env bash
# Installs every Debian 12 package tensorops needs to build, test and run,
# then the Node.js example's npm packages (client/node/node_modules).
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config git clang-format
  # libFuzzer and its sanitizer runtimes (scripts/check-sanitizers.sh)
  clang-14 libclang-rt-14-dev
  # core library
  libabsl-dev libtbb-dev
  # service
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev
  # the Open Inference Protocol's HTTP/REST front (--http_address)
  libcpp-httplib-dev nlohmann-json3-dev
  # TLS: the server checks its PEM files with OpenSSL; the TLS tests make
  # their certificates with the openssl command
  libssl-dev openssl
  # tests, benchmarks and the PyTorch oracle
  libgtest-dev libgmock-dev libbenchmark-dev libtorch-dev python3-torch
  # Python client (its calls go through the C++ client: a pybind11 module)
  python3-grpcio python3-numpy python3-protobuf pybind11-dev python3-dev
  # pip install ./client/python (offline: --no-build-isolation --no-index)
  python3-pip python3-setuptools python3-wheel
  # deployment tests (tests/deploy): Prometheus + promtool, nginx as the
  # gRPC load balancer, PyYAML for the manifest checks
  prometheus nginx-light python3-yaml
  # service benchmarks (scripts/bench-service): plots, h2load as an
  # independent load generator, curl to read grpc-status over HTTP/2
  python3-matplotlib nghttp2-client curl
  # Node.js client example (client/node; its npm packages: npm ci below)
  nodejs
)
# npm: Debian's package, unless the nodejs installed already brings an npm
# (NodeSource's nodejs bundles it, and conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(npm); fi

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
else
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq "${missing[@]}"
fi

# The Node.js example's packages (client/node/node_modules, not in git),
# exactly as its package-lock.json pins them: only when they are missing or
# the lock file changed since npm last installed them. No install scripts
# (the one dependency that has one, protobufjs, only prints version hints).
node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/client/node"
installed_lock="$node_dir/node_modules/.package-lock.json"
if [[ ! -f $installed_lock || $node_dir/package-lock.json -nt $installed_lock ]]; then
  echo "setup: npm ci in client/node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
