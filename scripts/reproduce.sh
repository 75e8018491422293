#!/usr/bin/env bash
# Table 6 of He et al. 2016 on CIFAR-10: ResNet-20, 32, 44, 56 and 110, seeds 0-4 (25 runs of the paper's
# 64k-iteration recipe), every local GPU busy (hydra/launcher=parallel: one job per visible GPU), then the report.
# Resumable: run the same command again after a stop (Ctrl-C, a reboot) and finished runs are skipped,
# stopped ones resume from their last checkpoint. Wall time: README "Reproducing the paper".
#
# usage: scripts/reproduce.sh [OUT_DIR] [overrides...]     e.g. scripts/reproduce.sh outputs data.root=/data/cifar10
#   OUT_DIR      where the runs and the report go (default: outputs); the report is OUT_DIR/table6/report.md
#   overrides    passed to `resdeep train`, e.g. hydra.launcher.jobs_per_gpu=2 to pack two runs per GPU
#   RESDEEP_SMOKE=1   the whole path at a smoke size on a CPU in seconds: two tiny runs on the built-in data
#   RESDEEP=...       the resdeep command (default: resdeep)
set -uo pipefail
out=${1:-outputs}
shift $(( $# > 0 ? 1 : 0 ))
resdeep=${RESDEEP:-resdeep}
models=resnet110,resnet56,resnet44,resnet32,resnet20  # longest first: the last runs to start are the short ones
seeds=0,1,2,3,4
size=()
if [ -n "${RESDEEP_SMOKE:-}" ]; then
  models=resnet20
  seeds=0,1
  size=(data=synthetic data.train_size=64 data.test_size=32 model.width=4 recipe=smoke recipe.batch_size=16
        recipe.max_iters=4 trainer.log_every=2 trainer.eval_every=4 trainer.device=cpu trainer.progress=off)
fi
$resdeep train -m +experiment=table6 model=$models seed=$seeds hydra/launcher=parallel out_dir="$out" "${size[@]}" "$@"
trained=$?  # 1: a run failed or diverged (the report marks it); 75: stopped, run this again to resume
$resdeep report "$out/table6" || exit $?
exit $trained
