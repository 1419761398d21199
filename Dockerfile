# syntax=docker/dockerfile:1
# tensorops-server in a container: a build stage with Debian's -dev packages,
# and a small runtime stage with only the shared libraries the two binaries
# (tensorops-server and the tensorops CLI, used by HEALTHCHECK) link against.
#
#   docker build -t tensorops .        (or: podman build --format docker ...)
#   docker run -p 50051:50051 -p 9464:9464 tensorops
#
# Without Docker Hub or a Docker engine, deploy/verify-image.sh builds and
# checks this image with podman.

ARG DEBIAN_IMAGE=debian:bookworm

FROM ${DEBIAN_IMAGE} AS build
# The build packages of scripts/setup.sh, minus everything for tests,
# benchmarks, libtorch and Python (the image builds neither).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libabsl-dev libtbb-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTENSOROPS_BUILD_TESTS=OFF -DTENSOROPS_BUILD_BENCH=OFF \
      -DTENSOROPS_WITH_TORCH=OFF -DTENSOROPS_WITH_CUDA=OFF \
 && cmake --build /build --target tensorops-server tensorops_cli \
 && mkdir -p /out/bin \
 && cp /build/server/tensorops-server /build/client/tensorops /out/bin/ \
 && strip /out/bin/*
# The runtime packages are whatever packages own the shared libraries the
# binaries load, so the list cannot drift from the link lines.
RUN ldd /out/bin/* | awk '$3 ~ /^\// { print $3 }' | sort -u \
      | xargs -r realpath | xargs -r dpkg -S 2>/dev/null \
      | cut -d: -f1 | sort -u > /out/runtime-packages.txt \
 && cat /out/runtime-packages.txt \
 && test -s /out/runtime-packages.txt

FROM ${DEBIAN_IMAGE} AS runtime
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages.txt \
      apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin \
      tensorops
COPY --from=build /out/bin/ /usr/local/bin/
USER 10001:10001
# gRPC (TensorOps, grpc.health.v1, reflection) and Prometheus /metrics.
EXPOSE 50051 9464
# Exits 0 only while the health service reports SERVING (it turns
# NOT_SERVING when SIGTERM starts the drain).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["tensorops", "--address=127.0.0.1:50051", "--timeout=2s", "health"]
# Exec form: the server is PID 1 and gets SIGTERM itself. It drains for up to
# --shutdown_timeout, 8s here so the drain ends inside `docker stop`'s default
# 10 s grace before SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tensorops-server"]
CMD ["--address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9464", \
     "--shutdown_timeout=8s"]
