#!/usr/bin/env bash
# Figure 6 of He et al. 2016 (left) on one GPU within a time budget: plain-20, plain-56, ResNet-20 and ResNet-56 on
# CIFAR-10 with the paper's recipe (recipe=cifar: 64,000 iterations of 128 images, all 50,000 training images).
# A ~30-second bench estimates each run's time, alone and all at once, and the faster way is used; what fits in the
# budget starts (56 layers first); the sweep is stopped early enough that every job saves a checkpoint (exit 75);
# the same command continues. The planning is Python (src/resdeep/budget/); this script strings the steps together.
#
# usage: scripts/gpu_figure6.sh OUT_DIR [--budget SECONDS] [--data DIR] [overrides...]    (--help for more)
#   RESDEEP_SMOKE=1   the whole path at toy size on the CPU, on the built-in data or --data (tests/test_gpu_figure6.py)
#   PYTHON=...        the Python that has resdeep (default: python3); RESDEEP=... the resdeep command (default: $PYTHON -m resdeep)
set -uo pipefail

usage() {
  cat <<'EOF'
usage: scripts/gpu_figure6.sh OUT_DIR [--budget SECONDS] [--data DIR] [overrides...]

Figure 6 of He et al. 2016 on one GPU: plain-20, plain-56, ResNet-20 and ResNet-56 on CIFAR-10 with the
paper's recipe (64,000 iterations of 128 images, all 50,000 training images), within a time budget.

  OUT_DIR           everything goes here: the runs (OUT_DIR/figure6/), the unpacked data (OUT_DIR/data/),
                    the bench and the plan (OUT_DIR/budget/), and the folder to keep (OUT_DIR/keep/)
  --budget SECONDS  wall time for this call, counted from its start (default: no limit)
  --data DIR        CIFAR-10: a folder holding cifar-10-batches-py/, or a folder of the WebP mosaics
                    (data_batch_1..5 and test_batch, .webp and .labels; unpacked once into OUT_DIR/data)
                    (default: data.root as resdeep finds it, data/cifar10 or $RESDEEP_DATA/cifar10)
  overrides         passed on to every run, e.g. trainer.compile=true (off here: the bench then measures
                    what trains, and a resumed job does not compile again)

Each call first benches (about 30 s on a GPU; reused on the next call on the same device) and prints its
estimate of each run's time alone and of all four at once, then starts what it can finish in the budget:
all four (at once or one at a time, whichever the bench says is faster), else plain-56 and ResNet-56 before
the 20-layer nets, and if not even one fits, plain-56 and ResNet-56 anyway. Before the budget ends it stops
the sweep so that every job saves a checkpoint, writes the report, and exits 75.

Continue: run the same command again with the same OUT_DIR (and a new budget). Finished runs are skipped,
stopped ones resume from their checkpoints, and the estimate counts only what is left; repeat until it
exits 0 with "figure 6 is complete".

  scripts/gpu_figure6.sh runs/fig6 --budget 3300 --data /data/cifar10-mosaics    # a one-hour slot, 5 min spare
  scripts/gpu_figure6.sh runs/fig6 --budget 3300 --data /data/cifar10-mosaics    # the next slot continues

Keep OUT_DIR/keep (a few MB, no checkpoints): report.md, curves.csv, figure.png/.pdf/.svg and depth.*,
runs/.../result.json of each finished run, status.txt, device.txt (the GPU) and bench.txt (every call's
bench, estimate and plan). Exit: 0 complete, 75 stopped (run again), 1 a run failed, 2 a problem (one line).
EOF
}

out="" budget="" data="" overrides=()
while (( $# )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --budget|--data) [ $# -ge 2 ] || { echo "gpu_figure6.sh: $1 needs a value (see --help)" >&2; exit 2; }
                     [ "$1" = --budget ] && budget=$2 || data=$2; shift 2 ;;
    --budget=*) budget=${1#*=}; shift ;;
    --data=*) data=${1#*=}; shift ;;
    -*) echo "gpu_figure6.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) if [ -z "$out" ]; then out=$1; else overrides+=("$1"); fi; shift ;;
  esac
done
[ -n "$out" ] || { echo "usage: scripts/gpu_figure6.sh OUT_DIR [--budget SECONDS] [--data DIR] [overrides...]   (--help for more)" >&2; exit 2; }
if [ -n "$budget" ] && ! [[ $budget =~ ^[0-9]+$ && $budget -gt 0 ]]; then
  echo "gpu_figure6.sh: --budget takes a whole number of seconds above 0 (got '$budget')" >&2; exit 2
fi
started=$(date +%s)
py=${PYTHON:-python3}
resdeep=${RESDEEP:-$py -m resdeep}
mkdir -p "$out" || exit 2

size=(trainer.compile=false)
if [ -n "${RESDEEP_SMOKE:-}" ]; then  # toy runs: many iterations more than a stop lets through, seconds for a generous budget
  size=(model.width=4 recipe=smoke recipe.batch_size=8 recipe.max_iters=40 trainer.log_every=10 trainer.eval_every=20
        trainer.checkpoint_every=20 trainer.device=cpu trainer.progress=off hydra.launcher.threads_per_job=1)
  [ -n "$data" ] || size+=(data=synthetic data.train_size=64 data.test_size=32)  # with --data: the CIFAR-10 given
fi

data_root=()
if [ -n "$data" ]; then
  if [ -d "$data/cifar-10-batches-py" ] || [ -f "$data/data_batch_1" ]; then
    data_root=(data.root="$data")
  elif compgen -G "$data/*.webp" >/dev/null || compgen -G "$data/*.labels" >/dev/null; then
    if [ ! -f "$out/data/cifar-10-batches-py/batches.meta" ]; then  # unpacked once; delete OUT_DIR/data to unpack again
      $py -m resdeep.data.cifar10_mosaic "$data" "$out/data" || exit $?
    fi
    data_root=(data.root="$out/data")
  else
    echo "gpu_figure6.sh: $data holds neither cifar-10-batches-py/ nor the CIFAR-10 WebP mosaics (data_batch_1.webp ... test_batch.labels)" >&2
    exit 2
  fi
fi

sweep=(+experiment=figure6 hydra/launcher=parallel out_dir="$out" "${size[@]}" "${data_root[@]}" "${overrides[@]}")
deadline=(); [ -n "$budget" ] && deadline=(--deadline $(( started + budget )))
code=0 interrupted=""
for round in 1 2 3 4 5; do  # a round ends early when its runs finish: the next one uses the time left (the last finds none)
  $py -m resdeep.budget plan "$out" "${deadline[@]}" --round $round -- "${sweep[@]}"
  code=$?
  if [ $code -eq 3 ]; then code=0; break; fi  # every run is finished
  [ $code -eq 0 ] || break                     # 75: no time to start more; 2: a problem, said in one line
  # In the background, so that a SIGTERM sent to this script alone (a scheduler's) reaches the sweep too.
  $py -m resdeep.budget run "$out" -- $resdeep train -m "${sweep[@]}" &
  watcher=$!
  trap 'interrupted=1; kill -TERM $watcher 2>/dev/null' INT TERM
  wait $watcher; code=$?
  while kill -0 $watcher 2>/dev/null; do wait $watcher; code=$?; done
  trap - INT TERM
  [ $code -eq 0 ] && [ -z "$interrupted" ] || break  # 75: stopped at the budget (or by you); 1: a run failed
done
[ -n "$interrupted" ] && [ $code -eq 0 ] && code=75

if [ -d "$out/figure6" ]; then
  $resdeep report "$out/figure6" --out "$out/keep" || { [ $code -eq 0 ] && code=1; }
  $py -m resdeep.budget keep "$out"
fi
case $code in
  0) echo "figure 6 is complete: $out/keep/report.md (keep $out/keep)" ;;
  75) echo "stopped; run the same command again to continue (the report so far is in $out/keep)" ;;
esac
exit $code
