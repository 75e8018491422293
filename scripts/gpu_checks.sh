#!/usr/bin/env bash
# The checks and measurements that need a CUDA GPU, in order of importance, within a time budget.
# usage: scripts/gpu_checks.sh OUT_DIR [CIFAR_ROOT] [SECONDS]
#   OUT_DIR     gets the logs and one JSON per bench (docs/performance.md and docs/testing.md use them)
#   CIFAR_ROOT  optional: also time a real `resdeep train` of ResNet-56 on CIFAR-10 (6,000 iterations)
#   SECONDS     the whole budget (default 540); each step gets what is left, and later steps are skipped
# Checkpoints and event files stay under OUT_DIR/work; OUT_DIR/summary.txt gathers the steps, the test summary
# and each bench's JSON on one line, so a device call can send back one small file (its limit is 8 files).
# 1. tests/test_cuda.py: the captured and compiled step against the eager one, dropout under capture,
#    bf16, stochastic depth turning capture off, a default-path run resumed and extended.
# 2. ResNet-110 with and without stochastic depth (compiled and captured against eager: what a dropped block saves on a GPU).
# 3. One `resdeep bench` line per family, at the same settings (captured, not compiled, so that no compile dominates).
# 4. A real training run's rate against the bench's.
# 5. scripts/reproduce.sh at its smoke size on the GPU (the parallel launcher giving the GPU to each job).
# 6. The whole suite on a GPU machine, for information (it is written for CPUs; CI has no GPU).
set -uo pipefail
out=${1:?usage: scripts/gpu_checks.sh OUT_DIR [CIFAR_ROOT] [SECONDS]}
cifar=${2:-}
deadline=$(( $(date +%s) + ${3:-540} ))
resdeep=${RESDEEP:-resdeep}
mkdir -p "$out/bench" "$out/work"
left() { echo $(( deadline - $(date +%s) )); }
step() {  # step NAME CAP COMMAND...: run it with at most CAP seconds, or what is left; log to OUT/NAME.log
  local name=$1 cap=$2; shift 2
  local budget; budget=$(left); (( budget > cap )) && budget=$cap
  if (( budget < 15 )); then echo "== $name: skipped, out of time" | tee -a "$out/steps.txt"; return; fi
  local started; started=$(date +%s)
  timeout "$budget" "$@" > "$out/$name.log" 2>&1
  echo "== $name: exit $? in $(( $(date +%s) - started )) s (cap $budget s)" | tee -a "$out/steps.txt"
}
bench() {  # bench NAME OVERRIDES...
  local name=$1; shift
  step "bench_$name" 120 $resdeep bench data=synthetic --no-reference --iters 100 --warmup 20 --json "$out/bench/$name.json" "$@"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/steps.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/steps.txt"

step cuda_tests 200 python3 -m pytest -q -p no:cacheprovider -rA tests/test_cuda.py

bench resnet110 model=resnet110
bench resnet110_stochastic_depth model=resnet110 model.stochastic_depth=0.5

for model in resnet110 se_resnet110 wrn16_4 wrn28_10 resnext29_8x64d densenet_bc100_12 densenet40_12; do
  bench "${model}_graph" model=$model trainer.compile=false
done

if [ -n "$cifar" ]; then
  step train_resnet56 150 $resdeep train model=resnet56 data=cifar10 data.root="$cifar" recipe.max_iters=6000 \
    trainer.eval_every=3000 trainer.log_every=1000 trainer.progress=lines out_dir="$out/work/runs"
fi

step reproduce_smoke 90 env RESDEEP_SMOKE=1 RESDEEP="$resdeep" scripts/reproduce.sh "$out/work/reproduce" trainer.device=cuda trainer.compile=false

step whole_suite 200 python3 -m pytest -q -p no:cacheprovider -n 12 tests --ignore=tests/test_cuda.py
echo "== done, $(left) s left" | tee -a "$out/steps.txt"
{
  cat "$out/steps.txt"
  echo "== tests"; grep -E "^(PASSED|FAILED|ERROR|SKIPPED)|passed|failed" "$out/cuda_tests.log"
  echo "== benches"; for f in "$out"/bench/*.json; do echo "$(basename "$f" .json) $(tr -d '\n' < "$f")"; done
  echo "== train"; grep -E "images/s|error" "$out/train_resnet56.log" 2>/dev/null | tail -5
  echo "== suite"; tail -15 "$out/whole_suite.log" 2>/dev/null
} > "$out/summary.txt"
