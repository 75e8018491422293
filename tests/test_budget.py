"""resdeep.budget: the arithmetic of a plan within a time budget, and reading how far a run has got (no training here)."""
import json
import math
import time

import pytest

from resdeep.budget.__main__ import split_overrides
from resdeep.budget.plan import (
    REPORT_S, SAFETY, STOP_S, RunCost, Together, count_multiples, duration, plan, sequential_s, stop_reserve_s, together_s,
)
from resdeep.budget.progress import run_progress


def figure6(work56=300.0, work20=100.0, startup=10.0, order=("plain56", "resnet56", "plain20", "resnet20")):
    """Figure 6's four runs with `work` seconds of training left each (one second an iteration) and a start-up."""
    runs = {name: RunCost(name, 56 if "56" in name else 20, int(work56 if "56" in name else work20), 1.0, startup_s=startup)
            for name in order}
    return [runs[name] for name in order]


def test_evaluations_and_checkpoints_left_count_every_multiple_and_the_last_iteration():
    assert count_multiples(0, 64000, 1000) == 64
    assert count_multiples(31500, 64000, 1000) == 33  # 32000 ... 64000
    assert count_multiples(0, 40, 30) == 2  # 30, and 40 (the last iteration always evaluates)
    assert count_multiples(40, 40, 30) == 0
    cost = RunCost("resnet56", 56, 1000, 0.005, evals_left=2, s_per_eval=0.5, checkpoints_left=1, s_per_checkpoint=0.2, startup_s=12)
    assert cost.work_s == pytest.approx(5 + 1 + 0.2) and cost.alone_s == pytest.approx(18.2)


def test_one_at_a_time_adds_every_start_up_and_all_at_once_only_the_longest():
    runs = figure6()
    assert sequential_s(runs, launch_s=5) == 5 + 4 * 10 + 2 * 300 + 2 * 100
    even = Together({run.name: 0.3 for run in runs})  # 1.2x the throughput of one at a time
    # At 0.3 each, the 20-layer runs end at 100/0.3 s; the 56-layer ones, 200 s behind, then share 0.6 (the gain
    # interpolated for 2 jobs: 1 + 0.2 * 1/3) between them: 200 / (0.5333 / 2) s more.
    first = 100 / 0.3
    assert together_s(runs, even, launch_s=5) == pytest.approx(5 + 10 + first + 200 / ((1 + 0.2 / 3) / 2))
    assert together_s(runs, None) == math.inf, "not measured: no estimate for running at once"


def test_a_run_left_alone_at_the_end_goes_at_its_own_speed():
    a, b = RunCost("a", 56, 100, 1.0), RunCost("b", 56, 300, 1.0)
    measured = Together({"a": 0.6, "b": 0.6})
    assert together_s([a, b], measured) == pytest.approx(100 / 0.6 + (300 - 100))
    assert measured.shares_for(["a"]) == {"a": 1.0}


def test_the_shares_of_fewer_jobs_interpolate_the_gain_between_one_job_and_all():
    measured = Together({"p56": 0.5, "r56": 0.5, "p20": 0.5, "r20": 0.5})  # 2x with all four
    assert measured.gain == 2.0
    assert measured.shares_for(["p56", "r56", "p20", "r20"]) == {"p56": 0.5, "r56": 0.5, "p20": 0.5, "r20": 0.5}
    assert measured.shares_for(["p56", "r56"]) == pytest.approx({"p56": (1 + 1 / 3) / 2, "r56": (1 + 1 / 3) / 2})


def test_when_all_fit_all_start_in_the_faster_way():
    runs = figure6()
    chosen = plan(runs, window_s=None, together=Together({run.name: 0.4 for run in runs}))
    assert chosen.runs == ["plain56", "resnet56", "plain20", "resnet20"] and chosen.fits and chosen.at_once == 4
    assert chosen.estimate_s == chosen.together_s < chosen.sequential_s
    slow_together = Together({run.name: 0.2 for run in runs})  # 0.8x: at once is slower
    chosen = plan(runs, window_s=10_000, together=slow_together)
    assert chosen.at_once == 1 and chosen.mode == "one at a time" and chosen.estimate_s == chosen.sequential_s
    assert plan(runs, window_s=None).at_once == 1, "at once not measured: one at a time"


def test_when_not_all_fit_the_56_layer_nets_start_before_the_20_layer_ones():
    runs = figure6(order=("plain20", "resnet20", "plain56", "resnet56"))  # whatever order they come in
    two_56 = sequential_s([r for r in runs if r.depth == 56])
    chosen = plan(runs, window_s=two_56 * (1 + SAFETY) + 1)
    assert chosen.runs == ["plain56", "resnet56"] and chosen.fits and chosen.waiting == ["plain20", "resnet20"]
    three = sequential_s(runs[2:] + runs[:1])
    chosen = plan(runs, window_s=three * (1 + SAFETY) + 1)
    assert chosen.runs == ["plain56", "resnet56", "plain20"] and chosen.waiting == ["resnet20"]


def test_a_plan_fits_only_with_its_safety_margin():
    runs = figure6()[:1]
    assert plan(runs, window_s=runs[0].alone_s * (1 + SAFETY) + 0.01).fits
    assert not plan(runs, window_s=runs[0].alone_s * 1.05).fits


def test_when_not_even_one_fits_the_56_layer_nets_start_anyway_in_the_way_that_trains_more():
    runs = figure6()
    chosen = plan(runs, window_s=60, together=Together({run.name: 0.35 for run in runs}))  # 1.4x: at once trains more
    assert chosen.runs == ["plain56", "resnet56"] and not chosen.fits and chosen.at_once == 2
    assert chosen.waiting == ["plain20", "resnet20"]
    chosen = plan(runs, window_s=60, together=Together({run.name: 0.2 for run in runs}))  # 0.8x: one at a time
    assert chosen.runs == ["plain56", "resnet56"] and chosen.at_once == 1
    chosen = plan(runs, window_s=-30)  # the budget is spent already: they still start (and stop once begun)
    assert chosen.runs == ["plain56", "resnet56"] and not chosen.fits
    assert plan(runs, window_s=60, force=False) is None, "a later round of a call starts nothing that cannot finish"


def test_with_the_56_layer_nets_finished_the_20_layer_nets_are_what_is_left():
    runs = [RunCost("plain56", 56, 0, 1.0), RunCost("resnet56", 56, 0, 1.0), *figure6()[2:]]
    assert plan(runs, window_s=1).runs == ["plain20", "resnet20"]
    assert plan([RunCost("plain56", 56, 0, 1.0)], window_s=None) is None, "nothing left"


def test_the_stop_keeps_time_for_the_report_and_the_slowest_jobs_last_step():
    runs = [RunCost("plain56", 56, 10, 0.01, s_per_eval=0.5, s_per_checkpoint=0.2), RunCost("plain20", 20, 10, 0.004, s_per_eval=0.2)]
    assert stop_reserve_s(runs) == pytest.approx(REPORT_S + STOP_S + 0.71)
    assert stop_reserve_s(runs, at_once=2) == pytest.approx(REPORT_S + STOP_S + 1.42)


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0, 45.4, 60, 400, 3599, 3600, 3 * 3600 + 5 * 60 + 9)] == \
        ["0 s", "45 s", "1 min 00 s", "6 min 40 s", "59 min 59 s", "1 h 00 min", "3 h 05 min"]
    assert duration(math.inf) == "unknown" and duration(-3) == "0 s"


def test_the_launchers_fields_go_to_the_sweep_and_the_rest_to_every_run():
    config, launcher = split_overrides(["+experiment=figure6", "hydra/launcher=parallel", "hydra.launcher.threads_per_job=1",
                                        "model.width=4", "hydra.verbose=true", "out_dir=x"])
    assert config == ["+experiment=figure6", "model.width=4", "out_dir=x"] and launcher == {"threads_per_job": "1"}


def test_a_runs_progress_is_read_from_its_result_or_its_newest_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert run_progress(run) == (None, 0, (None, None, None)), "a run not started"
    (run / "checkpoints").mkdir(parents=True)
    for iteration in (2000, 4000):
        (run / "checkpoints" / f"iter_{iteration:08d}.pt").write_bytes(b"")
    (run / "checkpoints" / ".iter_00006000.pt.tmp123").write_bytes(b"")  # a write in progress is not a checkpoint
    before = run_progress(run)
    assert before.status is None and before.iteration == 4000
    (run / "train.log").write_text("resuming\n")
    assert run_progress(run).last_logged != before.last_logged, "a job that begins training shows in its log"
    (run / "result.json").write_text("{not json")
    assert run_progress(run).status is None, "a damaged result is no result"
    (run / "result.json").write_text(json.dumps({"status": "finished", "iterations": 64000}))
    assert run_progress(run)[:2] == ("finished", 64000)
    (run / "result.json").write_text(json.dumps({"status": "diverged", "iterations": 300}))
    assert run_progress(run)[:2] == ("diverged", 300)


def test_the_together_rate_leaves_out_the_first_quarter_of_the_window():
    from resdeep.budget.measure import rate_after_the_start

    samples = [[0.0, 0], [1.0, 2], [2.0, 12], [3.0, 22], [4.0, 32]]  # slow first second, then 10 iterations a second
    assert rate_after_the_start(samples, seconds=4.0) == 10.0


def test_a_worker_that_cannot_build_leaves_the_together_rate_unmeasured_with_its_reason(tmp_path):
    """One process of the together measurement fails (here: a model that does not exist); the plan then goes on
    with the runs one at a time, and says why. What runs meanwhile (the runs timed alone) still runs."""
    import torch

    from resdeep.budget.measure import time_together

    ran = []
    rates, why = time_together({"broken": ["model=resnet57", "data=synthetic"]}, torch.device("cpu"), 1, 0.5, lambda: ran.append(1))
    assert rates is None and ran == [1]
    assert why.startswith("broken ended (") and "resnet57" in why, why


def stand_in_sweep(tmp_path, stop_in_s, begins_after_s, startup_s=1.0):
    """A plan, and a bash 'sweep' whose one run begins training (writes train.log) after begins_after_s seconds
    and answers SIGTERM as a stopped job does (exit 75), saying whether its run had begun by then."""
    run = tmp_path / "figure6" / "cifar10" / "plain56" / "seed0"
    (tmp_path / "budget").mkdir()
    now = time.time()
    (tmp_path / "budget" / "plan.json").write_text(json.dumps({
        "overrides": [], "first_wave": [str(run)], "stop_at": None if stop_in_s is None else now + stop_in_s,
        "deadline": None if stop_in_s is None else now + stop_in_s + 2, "startup_s": startup_s, "env": {}}))
    script = (f'trap \'[ -f {run}/train.log ] && echo "stopped after it began" || echo "stopped before it began"; exit 75\' TERM; '
              f'sleep {begins_after_s}; mkdir -p {run}; echo resuming > {run}/train.log; for i in $(seq 30); do sleep 0.05; done; echo finished')
    return ["bash", "-c", script]


def test_the_budget_stop_waits_until_the_first_run_has_begun_training_then_exits_75(tmp_path, capfd):
    from resdeep.budget.__main__ import command_run

    start = time.time()
    assert command_run(tmp_path, stand_in_sweep(tmp_path, stop_in_s=-5, begins_after_s=1.0)) == 75
    out = capfd.readouterr().out
    assert "figure6: the stop time has come, but plain56 has not begun training yet" in out
    assert "stopped after it began" in out and "figure6: budget: stopping the sweep now" in out and "past the end of the budget" in out
    assert time.time() - start < 4, "stopped as soon as it began, not at the end of the stand-in sweep"


def test_without_a_budget_the_sweep_runs_to_its_end_and_its_exit_code_is_the_calls(tmp_path, capfd):
    from resdeep.budget.__main__ import command_run

    assert command_run(tmp_path, stand_in_sweep(tmp_path, stop_in_s=None, begins_after_s=0.1)) == 0
    out = capfd.readouterr().out
    assert "finished" in out and "stopping" not in out
