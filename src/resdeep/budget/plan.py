"""What to start within a time budget: each run's time from measured rates, one at a time or all at once.

Pure arithmetic on numbers the bench measured (resdeep.budget.measure), so every rule here is unit-tested:

- a run's time alone: start-up + iterations left x time per iteration + evaluations and checkpoints left;
- several at once on one GPU: each job gets a share of its speed alone; the shares were measured with every
  remaining run going at once (their sum is the throughput against one at a time), and for fewer jobs the
  gain is interpolated between 1 (one job) and the measured one; the jobs finish one by one, and the
  others speed up as they do (processor sharing);
- what to start: every run left if they fit, else the longest prefix of the runs in order of depth, deepest
  first (for Figure 6: plain-56 and ResNet-56 before the 20-layer nets), in whichever of the two ways
  finishes first; when not even one fits, the deepest runs left start anyway, so the budget's time is not
  wasted (the stop saves their checkpoints and the next call resumes them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

SAFETY = 0.10  # a plan "fits" only when its estimate plus 10% fits: the estimate comes from a 30-second bench
REPORT_S = 30.0  # kept at the end of the budget for `resdeep report` and the keep folder
STOP_S = 10.0  # kept for the jobs to stop: the signal, the last iteration and evaluation, the checkpoint, exit


@dataclass(frozen=True)
class RunCost:
    """One run's measured costs and what is left of it."""

    name: str  # the model option, e.g. plain56
    depth: int
    iters_left: int
    s_per_iter: float
    evals_left: int = 0
    s_per_eval: float = 0.0
    checkpoints_left: int = 0
    s_per_checkpoint: float = 0.0
    startup_s: float = 0.0  # process start to first iteration: imports, data, model, warm-up (and graph capture)

    @property
    def work_s(self) -> float:
        """Seconds of training left when it runs alone (start-up not included)."""
        return self.iters_left * self.s_per_iter + self.evals_left * self.s_per_eval + self.checkpoints_left * self.s_per_checkpoint

    @property
    def alone_s(self) -> float:
        return self.startup_s + self.work_s


@dataclass(frozen=True)
class Together:
    """What the bench measured with `names` all training at once: each one's speed as a fraction of its speed alone."""

    shares: Dict[str, float]

    @property
    def gain(self) -> float:
        """Throughput of all at once against one at a time (above 1: at once is faster)."""
        return sum(self.shares.values())

    def shares_for(self, names: Sequence[str]) -> Dict[str, float]:
        """Each job's share of its speed alone when exactly `names` run at once."""
        k = len(names)
        if k == 1:
            return {names[0]: 1.0}
        if set(names) == set(self.shares):
            return {name: self.shares[name] for name in names}
        n = len(self.shares)
        gain = self.gain if n <= 1 else 1 + (self.gain - 1) * min(k - 1, n - 1) / (n - 1)
        return {name: gain / k for name in names}


def count_multiples(done: int, total: int, every: int) -> int:
    """How many of done+1..total are multiples of `every`, the last iteration counted too (an evaluation or checkpoint each)."""
    if total <= done:
        return 0
    multiples = total // every - done // every if every > 0 else 0
    return multiples + (0 if every > 0 and total % every == 0 else 1)


def sequential_s(runs: Sequence[RunCost], launch_s: float = 0.0) -> float:
    """One after another: the sweep's start, then each run's start-up and training."""
    return launch_s + sum(run.alone_s for run in runs)


def together_s(runs: Sequence[RunCost], together: Optional[Together], launch_s: float = 0.0) -> float:
    """All at once: the sweep's start, the longest start-up, then the runs share the GPU until the last one ends."""
    if together is None or not runs:
        return math.inf if len(runs) > 1 else sequential_s(runs, launch_s)
    left = {run.name: run.work_s for run in runs}
    elapsed = launch_s + max(run.startup_s for run in runs)
    while left:
        shares = together.shares_for(list(left))
        if min(shares.values()) <= 0:
            return math.inf
        step = min(left[name] / shares[name] for name in left)
        elapsed += step
        left = {name: work - step * shares[name] for name, work in left.items() if work - step * shares[name] > 1e-9}
    return elapsed


@dataclass
class Plan:
    """The runs to start now (in order), how many at once, and what the estimate says."""

    runs: List[str]
    at_once: int
    estimate_s: float
    fits: bool  # the estimate (plus SAFETY) ends before the stop; False: started anyway, the stop saves them
    waiting: List[str] = field(default_factory=list)  # left for a later call (or a later round of this one)
    sequential_s: float = math.inf  # the chosen runs one at a time ...
    together_s: float = math.inf  # ... and all at once (inf: not measured)

    @property
    def mode(self) -> str:
        return "one at a time" if self.at_once == 1 else f"{self.at_once} at once"


def deepest_first(runs: Sequence[RunCost]) -> List[RunCost]:
    """The order runs start in: deepest first, ties in the order given (plain-56, ResNet-56, plain-20, ResNet-20)."""
    return sorted(runs, key=lambda run: -run.depth)


def best_way(runs: Sequence[RunCost], together: Optional[Together], launch_s: float) -> tuple[int, float, float, float]:
    """(jobs at once, its estimate, one-at-a-time estimate, all-at-once estimate) for starting exactly these runs."""
    one, many = sequential_s(runs, launch_s), together_s(runs, together, launch_s) if len(runs) > 1 else math.inf
    return (len(runs), many, one, many) if many < one else (1, one, one, many)


def plan(runs: Sequence[RunCost], window_s: Optional[float], together: Optional[Together] = None, launch_s: float = 0.0,
         force: bool = True) -> Optional[Plan]:
    """What to start with window_s seconds until the stop (None: no budget).

    Every run if they fit; else the longest deepest-first prefix that fits; else (force) the deepest runs
    left, in the way that trains more of them in the window. None when nothing is left, or when nothing fits
    and force is off (a later round of a call that already trained)."""
    ordered = deepest_first([run for run in runs if run.iters_left > 0])
    if not ordered:
        return None
    for count in range(len(ordered), 0, -1):
        chosen = ordered[:count]
        at_once, estimate, one, many = best_way(chosen, together, launch_s)
        if window_s is None or estimate * (1 + SAFETY) <= window_s:
            return Plan([r.name for r in chosen], at_once, estimate, True, [r.name for r in ordered[count:]], one, many)
    if not force:
        return None
    deepest = [run for run in ordered if run.depth == ordered[0].depth]
    at_once, estimate, one, many = best_way(deepest, together, launch_s)
    if len(deepest) > 1 and together is not None:  # what matters now is how much trains before the stop: the throughput
        at_once = len(deepest) if sum(together.shares_for([r.name for r in deepest]).values()) > 1 else 1
        estimate = many if at_once > 1 else one
    return Plan([r.name for r in deepest], at_once, estimate, False, [r.name for r in ordered[len(deepest):]], one, many)


def stop_reserve_s(runs: Sequence[RunCost], at_once: int = 1) -> float:
    """Seconds before the end of the budget at which the sweep is told to stop: the report's time, and the
    time the slowest job needs to finish its iteration (and an evaluation that may fall on it), save and exit."""
    slowest = max((run.s_per_iter + run.s_per_eval + run.s_per_checkpoint for run in runs), default=0.0)
    return REPORT_S + STOP_S + slowest * max(1, at_once)


def duration(seconds: float) -> str:
    """'45 s', '6 min 40 s', '1 h 05 min'."""
    if seconds == math.inf:
        return "unknown"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
