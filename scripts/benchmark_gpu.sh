#!/usr/bin/env bash
# Benchmarks behind docs/performance.md: resdeep's engine against the reference loop on one GPU.
# usage: scripts/benchmark_gpu.sh OUT_DIR          (needs a CUDA GPU; writes one JSON file per model)
set -uo pipefail
out=${1:?usage: scripts/benchmark_gpu.sh OUT_DIR}
mkdir -p "$out"
resdeep=${RESDEEP:-resdeep}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
$resdeep bench model=resnet56 data=synthetic --json "$out/bench_resnet56.json"
$resdeep bench model=resnet110 data=synthetic --json "$out/bench_resnet110.json"
$resdeep bench model=plain56 data=synthetic --no-reference --json "$out/bench_plain56.json"
# ResNet-1202 at batch 128: peak memory is the question (eager: compiling 1202 layers takes minutes).
$resdeep bench model=resnet1202 data=synthetic trainer.compile=false --iters 10 --warmup 3 --no-reference --json "$out/bench_resnet1202.json"
