#!/usr/bin/env bash
# Measurements behind docs/performance.md, on one CUDA GPU.
# usage: scripts/benchmark_gpu.sh OUT_DIR [CIFAR_ROOT]
#   OUT_DIR      gets one JSON file per benchmark
#   CIFAR_ROOT   optional: also train ResNet-20 on CIFAR-10 for 2,000 iterations in bf16 and in fp32
set -uo pipefail
out=${1:?usage: scripts/benchmark_gpu.sh OUT_DIR [CIFAR_ROOT]}
cifar=${2:-}
mkdir -p "$out"
resdeep=${RESDEEP:-resdeep}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
$resdeep bench model=resnet56 data=synthetic --json "$out/bench_resnet56.json"
$resdeep bench model=resnet110 data=synthetic --json "$out/bench_resnet110.json"
$resdeep bench model=resnet20 data=synthetic --no-reference --json "$out/bench_resnet20.json"
# ResNet-1202 at batch 128: peak memory is the question (compiling 1202 layers takes minutes, so eager).
$resdeep bench model=resnet1202 data=synthetic trainer.compile=false --iters 10 --warmup 3 --no-reference --json "$out/bench_resnet1202.json"
if [ -n "$cifar" ]; then
  for precision in bf16 fp32; do
    $resdeep train model=resnet20 data=cifar10 data.root="$cifar" recipe.max_iters=2000 trainer.eval_every=250 \
      trainer.precision=$precision trainer.progress=off name=precision_$precision out_dir="$out/runs"
    cp "$out/runs/precision_$precision/cifar10/resnet20/seed0/metrics.jsonl" "$out/precision_$precision.jsonl"
  done
fi
