#!/usr/bin/env bash
# Installs the Debian 12 packages skein needs to build and test.
# Runs apt-get directly as root, through sudo otherwise; skips apt entirely
# when everything is already present, so repeated `make` calls stay fast.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libzstd-dev liblz4-dev libyaml-cpp-dev
  libopenblas-dev liblapacke-dev                 # arrays: BLAS/LAPACK
  libsimdjson-dev libblosc-dev zlib1g-dev libhdf5-dev  # io: Zarr metadata and codecs, HDF5
  thrift-compiler libthrift-dev libboost-dev libsnappy-dev  # io: Parquet metadata (Thrift compact) and codecs
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # distributed: gRPC transport
  libcpp-httplib-dev libcli11-dev                 # distributed: status/metrics over HTTP; the skein command line
  libssl-dev                                      # distributed: TLS certificates (skein certs)
  python3  # bench/run prints its ratio table with it (bench_smoke test)
)
# Optional extras, e.g. `scripts/install-deps.sh graphviz python3-dask`.
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
