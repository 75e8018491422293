"""What scripts/gpu_figure6.sh calls: `python -m resdeep.budget plan|run|keep OUT_DIR ...`.

  plan OUT_DIR [--deadline EPOCH] [--round N] [--rebench] -- OVERRIDES...
      bench (or reuse OUT_DIR/budget/bench.json from this device), print each run's estimate and the plan,
      write OUT_DIR/budget/plan.json. Exit 0: start the plan; 3: every run is finished; 75: no time left to
      start more (a later round); 2: a problem, said in one line.
  run OUT_DIR -- COMMAND...
      start COMMAND (the sweep) with the plan's overrides appended; at the plan's stop time send it SIGTERM
      (its jobs save checkpoints and exit 75), once the runs it started first have begun training. Passes a
      SIGINT/SIGTERM of its own on to the sweep. Exit: the sweep's code; 75 when stopped.
  keep OUT_DIR
      copy each run's result.json into OUT_DIR/keep/runs and write OUT_DIR/keep/status.txt.
"""
from __future__ import annotations

import time

STARTED = time.time()  # before the imports below, which are most of a job's start-up too

import argparse  # noqa: E402
import platform  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

from resdeep.budget.plan import RunCost, Together, count_multiples, duration, plan, stop_reserve_s  # noqa: E402
from resdeep.budget.progress import run_progress  # noqa: E402
from resdeep.errors import USAGE_EXIT_CODE, UserError  # noqa: E402
from resdeep.version import __version__  # noqa: E402

FIGURE6 = ("plain56", "resnet56", "plain20", "resnet20")  # the order they start in when not all fit: 56 layers first
SWEEP = "figure6"  # the experiment's name: its runs are OUT_DIR/figure6/<data>/<model>/seed<k>
NOTHING_LEFT = 3
STOPPED = 75
PREFIX = "figure6:"


def state_dir(out: Path) -> Path:
    return out / "budget"


def keep_dir(out: Path) -> Path:
    return out / "keep"


def say(line: str, record: Optional[List[str]] = None) -> None:
    print(f"{PREFIX} {line}", flush=True)
    if record is not None:
        record.append(line)


def split_overrides(overrides: List[str]) -> tuple[List[str], Dict[str, str]]:
    """(the config's overrides, the launcher's fields): hydra/... and hydra.* go to the sweep only."""
    config, launcher = [], {}
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key.startswith("hydra.launcher."):
            launcher[key.removeprefix("hydra.launcher.")] = override.split("=", 1)[1] if "=" in override else ""
        elif not key.startswith("hydra"):
            config.append(override)
    return config, launcher


def bench_key(device_name: str, config_overrides: List[str], launcher: Dict[str, str]) -> dict:
    """What a saved bench must match to be reused: the device, the versions, what the runs are (not where)."""
    import torch  # start-up: `python -m resdeep.budget run|keep` never needs torch

    what = [o for o in config_overrides if not o.startswith(("out_dir=", "data.root="))]
    return {"device": device_name, "torch": torch.__version__, "resdeep": __version__, "overrides": what,
            "threads_per_job": launcher.get("threads_per_job")}


def read_json(path: Path) -> Optional[dict]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def command_plan(out: Path, deadline: Optional[float], round_: int, rebench: bool, overrides: List[str]) -> int:
    # start-up: only `plan` loads torch, Hydra and the engine; `run` and `keep`, which watch and copy, start at once
    import torch

    try:
        import torch.utils.tensorboard  # noqa: F401 - a job imports it at its start: it belongs in the start-up measured
    except ImportError:
        pass

    from hydra_plugins.resdeep_parallel_launcher.slots import cpu_count, visible_gpus
    from resdeep.budget.measure import time_alone, time_together
    from resdeep.compose import load_config
    from resdeep.engine.distributed import World
    from resdeep.engine.train import pick_device
    from resdeep.models import model_id

    import_s = time.time() - STARTED
    config_overrides, launcher = split_overrides(overrides)
    configs = {name: load_config([*config_overrides, f"model={name}"]) for name in FIGURE6}
    first = configs[FIGURE6[0]]
    if any(cfg.recipe.max_iters is None for cfg in configs.values()):
        raise UserError("this script needs a recipe written in iterations (recipe.max_iters), such as recipe=cifar")
    run_dirs = {name: Path(cfg.out_dir) / cfg.name / cfg.data.name / model_id(cfg.model) / f"seed{cfg.seed}" for name, cfg in configs.items()}
    progress = {name: run_progress(run_dir) for name, run_dir in run_dirs.items()}
    done = {name: max(0, progress[name].iteration) for name in FIGURE6}
    left = [name for name in FIGURE6 if progress[name].status != "diverged"
            and not (progress[name].status is not None and done[name] >= configs[name].recipe.max_iters)]
    state, keep = state_dir(out), keep_dir(out)
    state.mkdir(parents=True, exist_ok=True)
    (state / "runs.json").write_text(json.dumps({name: {"run_dir": str(run_dirs[name]), "total": configs[name].recipe.max_iters}
                                                 for name in FIGURE6}, indent=1) + "\n")
    plan_file = state / "plan.json"
    plan_file.unlink(missing_ok=True)
    if not left:
        say(f"every run of the figure is finished ({', '.join(FIGURE6)})")
        return NOTHING_LEFT

    env = {}
    gpus = visible_gpus()
    device = pick_device(first.trainer.device, World())
    if device.type == "cuda" and len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[0]  # one GPU: what the bench measures is what trains
    cuda = device.type == "cuda"
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU ({cpu_count()} cores)"
    threads_alone = int(launcher.get("threads_per_job") or cpu_count())
    threads_together = int(launcher.get("threads_per_job") or max(1, cpu_count() // len(left)))
    key = bench_key(device_name, config_overrides, launcher)
    saved = None if rebench else read_json(state / "bench.json")
    lines: List[str] = []
    if saved and saved.get("key") == key and all(name in saved.get("alone", {}) for name in left):
        bench = saved
        say(f"bench: reusing {state / 'bench.json'} (measured {bench['date']} on this device; --rebench measures again)", lines)
    else:
        started = time.time()
        torch.set_num_threads(threads_alone)
        scratch = state / "scratch"
        alone: Dict[str, dict] = {}
        seconds, least, together_seconds = (1.5, 50, 5.0) if cuda else (0.3, 3, 1.0)  # about 30 s in all on a GPU

        def measure_alone():
            for name in left:
                alone[name] = time_alone(configs[name], device, seconds, least, scratch)

        rates, why = None, "one run left"
        if len(left) > 1:
            os.environ.update(env)
            orders = {name: [*config_overrides, f"model={name}"] for name in left}
            rates, why = time_together(orders, device, threads_together, together_seconds, measure_alone)
        else:
            measure_alone()
        shutil.rmtree(scratch, ignore_errors=True)
        bench = {"key": key, "date": time.strftime("%Y-%m-%d %H:%M"), "device": device_name, "import_s": import_s,
                 "alone": alone, "together": rates, "together_names": left, "together_note": why,
                 "bench_s": time.time() - started}
        (state / "bench.json").write_text(json.dumps(bench, indent=1) + "\n")
        say(f"bench on {device_name}: {len(left)} run(s) alone{' and all at once' if rates else ''} in {duration(bench['bench_s'])} "
            f"(saved to {state / 'bench.json'} for the next call)", lines)

    # Every job is a new process: it pays what the first net built here paid (CUDA or oneDNN set-up, lazy imports).
    build_s = max(bench["alone"][name]["build_s"] for name in left)
    costs = []
    for name in left:
        measured, cfg = bench["alone"][name], configs[name]
        total, trainer = cfg.recipe.max_iters, cfg.trainer
        costs.append(RunCost(
            name=name, depth=cfg.model.depth, iters_left=total - done[name], s_per_iter=measured["s_per_iter"],
            evals_left=count_multiples(done[name], total, trainer.eval_every), s_per_eval=measured["s_per_eval"],
            checkpoints_left=count_multiples(done[name], total, trainer.checkpoint_every), s_per_checkpoint=measured["s_per_checkpoint"],
            startup_s=bench["import_s"] + build_s))
    for cost in costs:
        total = configs[cost.name].recipe.max_iters
        say(f"estimate {cost.name:<9} {cost.iters_left:,} of {total:,} iterations left at {1000 * cost.s_per_iter:.2f} ms, "
            f"{cost.evals_left} evaluation(s) of {cost.s_per_eval:.2f} s, start-up {cost.startup_s:.0f} s: about {duration(cost.alone_s)} alone", lines)
    together = None
    if bench.get("together"):
        together = Together({name: bench["together"][name] * bench["alone"][name]["s_per_iter"] for name in FIGURE6 if name in bench["together"]})
        shares = ", ".join(f"{name} {share:.2f}" for name, share in together.shares.items())
        say(f"estimate with {', '.join(together.shares)} at once: {together.gain:.2f}x the throughput of one at a time "
            f"(each at this share of its speed alone: {shares})", lines)
    elif len(left) > 1:
        say(f"estimate at once: not measured ({bench.get('together_note')}); one at a time", lines)

    launch_s = bench["import_s"] + 0.5 * len(left)
    now = time.time()
    stop_at = window = None
    if deadline is not None:
        stop_at = deadline - stop_reserve_s(costs, at_once=len(left))
        window = stop_at - now
    chosen = plan(costs, window, together, launch_s, force=round_ == 1)
    if deadline is not None and window > 0:
        say(f"budget: {duration(deadline - now)} left; the sweep is told to stop at {time.strftime('%H:%M:%S', time.localtime(stop_at))}, "
            f"{duration(deadline - stop_at)} before the end (the jobs' checkpoints, the report)", lines)
    elif deadline is not None:
        say(f"budget: {duration(max(0.0, deadline - now))} left, less than the {duration(deadline - stop_at)} kept at the end for the jobs' "
            "checkpoints and the report: what starts now is stopped as soon as it has begun training", lines)
    if chosen is None:
        say(f"not enough time left to start {', '.join(c.name for c in costs)} in this call; run the same command again to continue", lines)
        record(keep, lines, device_name)
        return STOPPED
    if chosen.fits:
        waiting = f"; {', '.join(chosen.waiting)} in a later round or call" if chosen.waiting else ""
        say(f"plan: {', '.join(chosen.runs)}, {chosen.mode}: about {duration(chosen.estimate_s)} "
            f"(one at a time {duration(chosen.sequential_s)}, at once {duration(chosen.together_s)}){waiting}", lines)
    else:
        say(f"plan: not even one run fits before the stop; starting {', '.join(chosen.runs)} anyway, {chosen.mode}, "
            f"so the time is used (about {duration(chosen.estimate_s)} to finish): they stop at the budget with checkpoints and the next call resumes them", lines)
    record(keep, lines, device_name)
    plan_file.write_text(json.dumps({
        "runs": chosen.runs, "at_once": chosen.at_once, "fits": chosen.fits, "estimate_s": chosen.estimate_s,
        "overrides": [f"model={','.join(chosen.runs)}", f"hydra.launcher.workers={chosen.at_once}", f"hydra.launcher.jobs_per_gpu={chosen.at_once}"],
        "first_wave": [str(run_dirs[name]) for name in chosen.runs[:chosen.at_once]],
        "stop_at": stop_at, "deadline": deadline, "startup_s": max(c.startup_s for c in costs), "env": env,
    }, indent=1) + "\n")
    return 0


def record(keep: Path, lines: List[str], device_name: str) -> None:
    """The bench and plan lines of every call, and the device, into the keep folder."""
    keep.mkdir(parents=True, exist_ok=True)
    with open(keep / "bench.txt", "a") as stream:
        stream.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} on {device_name}\n" + "".join(f"{line}\n" for line in lines))
    (keep / "device.txt").write_text(device_text(device_name) + "\n")


def device_text(device_name: str) -> str:
    import torch  # start-up: as in bench_key

    cuda = f", CUDA {torch.version.cuda}" if torch.version.cuda else ""
    return f"{device_name}; torch {torch.__version__}{cuda}; resdeep {__version__}; Python {platform.python_version()}; {platform.node()}"


def begun(run_dir: str, before) -> bool:
    """Has a run the sweep started begun training (or ended) since `before`, its progress when the sweep started?"""
    now = run_progress(Path(run_dir))
    return now.status is not None or now.last_logged != before


def command_run(out: Path, command: List[str]) -> int:
    planned = read_json(state_dir(out) / "plan.json")
    if planned is None:
        raise UserError(f"no plan in {state_dir(out) / 'plan.json'}: run `python -m resdeep.budget plan` first")
    command = [*command, *planned["overrides"]]
    say("$ " + " ".join(shlex.quote(part) for part in command))
    first_wave = {run_dir: run_progress(Path(run_dir)).last_logged for run_dir in planned["first_wave"]}
    sweep = subprocess.Popen(command, env=dict(os.environ, **planned["env"]))
    asked: List[int] = []

    def pass_on(signum, _frame):
        asked.append(signum)
        if sweep.poll() is None:
            sweep.send_signal(signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        stopped = watch(sweep, planned, first_wave, asked)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    code = sweep.returncode
    if (stopped or asked) and code in (STOPPED, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM, 130):
        return STOPPED
    return code if code >= 0 else 128 - code


def watch(sweep: subprocess.Popen, planned: dict, first_wave: dict, asked: List[int]) -> bool:
    """Wait for the sweep; at the plan's stop time send it SIGTERM, once the runs it started first have begun
    training (a stop before that would leave them nothing to save). True when it was stopped so."""
    stop_at, stopped, waited = planned["stop_at"], False, False
    # How long a stop waits for the first runs to begin: a few of their start-ups, counted from when they could begin.
    give_up_waiting = None if stop_at is None else max(stop_at, time.time()) + max(120.0, 4 * planned["startup_s"])
    while sweep.poll() is None:
        if stop_at is not None and not stopped and not asked and time.time() >= stop_at:
            starting = [Path(d).parent.name for d, before in first_wave.items() if not begun(d, before)]
            if starting and time.time() < give_up_waiting:
                if not waited:
                    say(f"the stop time has come, but {' and '.join(starting)} {'has' if len(starting) == 1 else 'have'} not begun "
                        "training yet: stopping once begun, so that every run started leaves a checkpoint")
                    waited = True
            else:
                left = planned["deadline"] - time.time()
                when = f"{duration(left)} before the end of the budget" if left >= 0 else f"{duration(-left)} past the end of the budget"
                say(f"budget: stopping the sweep now, {when}; each job saves a checkpoint and the next call resumes it")
                sweep.send_signal(signal.SIGTERM)
                stopped = True
        time.sleep(0.05)
    return stopped


def command_keep(out: Path) -> int:
    """Each run's result.json and a status line per run into OUT_DIR/keep (the report is written there by the script)."""
    keep = keep_dir(out)
    keep.mkdir(parents=True, exist_ok=True)
    sweep = out / SWEEP
    results = sorted(sweep.rglob("result.json")) if sweep.is_dir() else []
    shutil.rmtree(keep / "runs", ignore_errors=True)
    for result in results:
        target = keep / "runs" / result.relative_to(sweep)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, target)
    lines = []
    for name, run in (read_json(state_dir(out) / "runs.json") or {}).items():
        now = run_progress(Path(run["run_dir"]))
        state = now.status or ("stopped, resumes next call" if now.iteration else "not started")
        lines.append(f"{name:<9} {now.iteration:>7,}/{run['total']:,}  {state}")
    if lines:
        (keep / "status.txt").write_text("\n".join(lines) + "\n")
    size = sum(path.stat().st_size for path in keep.rglob("*") if path.is_file())
    say(f"keep: {keep} ({size / 2**20:.1f} MB): {len(results)} result.json, " + ", ".join(sorted(p.name for p in keep.iterdir() if p.is_file())))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rest: List[str] = []
    if "--" in args:
        args, rest = args[:args.index("--")], args[args.index("--") + 1:]
    parser = argparse.ArgumentParser(prog="python -m resdeep.budget", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["plan", "run", "keep"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--deadline", type=float, help="the end of the budget, in seconds since the epoch")
    parser.add_argument("--round", type=int, default=1, help="1: the call's first plan (something always starts)")
    parser.add_argument("--rebench", action="store_true", help="measure again instead of reusing bench.json")
    options = parser.parse_args(args)
    try:
        if options.action == "plan":
            return command_plan(options.out, options.deadline, options.round, options.rebench, rest)
        if options.action == "run":
            if not rest:
                raise UserError("run: give the sweep's command after --")
            return command_run(options.out, rest)
        return command_keep(options.out)
    except UserError as error:
        print(f"resdeep: error: {error}", file=sys.stderr)
        return USAGE_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
