"""The load benchmark's own arithmetic: step parsing and validation, refit lag from watermark polls, the per-step
summary, and CPU accounting from /proc. The full run (minutes of gunicorn, PostgreSQL, Redis and a worker) is the
documented command in docs/benchmarks.md, not part of the test suite."""

import argparse
import os

import numpy as np
import pytest

from modeling.benchmarks import load


def test_steps_parse_and_must_grow_to_the_annotator_count():
    assert load._steps("10,50,200") == [10, 50, 200]
    with pytest.raises(argparse.ArgumentTypeError, match="positive annotator counts"):
        load._steps("10,0")
    with pytest.raises(argparse.ArgumentTypeError, match="separated by commas"):
        load._steps("ten")
    options = {"annotators": 50, "steps": [50, 10], "seconds": 1.0}
    with pytest.raises(ValueError, match="must grow from step to step"):
        load.run(options)
    with pytest.raises(ValueError, match=r"must equal --annotators \(200\)"):
        load.run({**options, "annotators": 200, "steps": [10, 50]})


def test_the_refit_lag_is_the_first_poll_that_saw_a_fit_holding_the_judgment():
    poller = load.WatermarkPoller(value_id=1)
    poller.samples = [(10.0, 0), (10.2, 0), (12.0, 5), (13.0, 9), (20.0, 12)]
    assert poller.lag_s(judgment_id=5, submitted_at=9.5) == pytest.approx(2.5)
    assert poller.lag_s(judgment_id=7, submitted_at=11.0) == pytest.approx(2.0)
    # a poll before the submit does not count, even if its watermark is high enough (it cannot be)
    assert poller.lag_s(judgment_id=9, submitted_at=13.5) == pytest.approx(6.5)
    assert poller.lag_s(judgment_id=13, submitted_at=1.0) is None


def test_a_step_summary_reports_throughput_percentiles_errors_and_lag():
    record = load.StepRecord(annotators=3, seconds=10.0)
    record.latencies_ms["next"].extend([10.0, 20.0, 30.0])
    record.latencies_ms["submit"].extend([40.0, 50.0, 60.0])
    record.latencies_ms["login"].append(500.0)
    record.judgments.extend([(1, 1.0), (2, 2.0), (3, 3.0)])
    record.error("submit", "POST /api/v1/assignments/9/submit/: HTTP 409: lease expired")
    record.cpu_s = {"server": 0.3, "database": 0.06}
    poller = load.WatermarkPoller(value_id=1)
    poller.samples = [(4.0, 3)]
    summary = load._summary(record, poller)
    assert summary["judgments_per_s"] == 0.3
    assert summary["requests_per_s"] == 0.6
    assert summary["p50_ms"] == float(np.percentile([10, 20, 30, 40, 50, 60], 50))
    assert summary["errors"] == 1 and summary["errors_by_endpoint"] == {"submit": 1}
    assert summary["refit_lag_s"] == 3.0  # judgment 1, submitted at 1.0, first seen in a fit at 4.0
    assert summary["endpoints"]["login"]["n"] == 1
    assert summary["cpu_ms_per_judgment"] == {"server": 100.0, "database": 20.0}


def test_cpu_of_a_process_group_is_read_from_proc():
    if not os.path.isdir("/proc"):
        pytest.skip("no /proc on this system")
    spent = load.group_cpu_s(os.getpgid(0))
    sum(range(2_000_000))  # burn a little CPU in this process group
    assert load.group_cpu_s(os.getpgid(0)) >= spent > 0


def test_database_cpu_counts_each_backend_from_its_own_start():
    before = {"client": 1.0, "server": 10.0, "worker": 5.0, "database": {"101": 2.0, "102": 3.0}}
    # 101 went on working, 102 was closed (CONN_MAX_AGE) and 103 opened during the step
    after = {"client": 1.5, "server": 12.0, "worker": 5.0, "database": {"101": 2.5, "103": 0.75}}
    assert load.CpuMeter.spent(before, after) == {"client": 0.5, "server": 2.0, "worker": 0.0, "database": 1.25}
