#!/usr/bin/env bash
# The GPU checks, for a session lent an H100/H200 (see the `device` tool): ≤ 8 minutes there.
#
#   1. here, once (needs the package registry): bash benchmarks/gpu_wheels.sh   → .whl/ (ignored by git)
#   2. device run, carry [".whl"], timeout_s 540:  bash benchmarks/gpu.sh
#   3. the figures come back in $OUT/gpu.log; put them in the README ("Generation", "Steering").
#
# The device image has torch, numba, transformers, accelerate, scipy, pillow, prometheus_client
# and tqdm; the rest of riffcast's needs travel as wheels, installed under /tmp/site.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/riffcast-gpu}"
mkdir -p "$OUT"
LOG="$OUT/gpu.log"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD/engine:$PWD/clients/python:$PWD:/tmp/site"
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  echo "== the gpu-marked tests"
  timeout 150 python3 -m pytest -q -m gpu tests/test_models.py tests/test_riffusion.py -p no:cacheprovider
  echo "== generation: full-size random weights, fp16, per chunk (benchmarks/generation.py)"
  (cd benchmarks && timeout 180 python3 generation.py --chunks 4)
  echo "== steering on the GPU (benchmarks/steering.py: windows of 128 and whole chunks; latency, a 10-a-second sweep)"
  (cd benchmarks && timeout 200 python3 steering.py --steers 8 --sweep-s 10 \
      --generator "full-random cuda fp16, windows 128=--generator riffusion --model full-random --device cuda --channels-last" \
      --generator "full-random cuda fp16, whole chunks=--generator riffusion --model full-random --device cuda --channels-last --window-columns 512")
} 2>&1 | tee "$LOG"
