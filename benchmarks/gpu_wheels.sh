#!/usr/bin/env bash
# Fetch, here, the wheels benchmarks/gpu.sh installs on the device machine (Python 3.12, x86-64),
# which has no network: riffcast's needs that its image lacks. They go to .whl/ (git ignores it).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
for wheel in diffusers soundfile cffi pycparser soxr websockets python-osc av pyloudnorm future; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$wheel"
done
ls -la .whl
