"""The static bench's verdict rules: how many pairs each case runs, and the sign test.

The bench itself is run by hand (benchmarks/README.md); what it decides with is plain
arithmetic and is checked here, with the numbers its docstring quotes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_static

        yield bench_static
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_default_pairs_give_1_mb_four_times_the_others(bench: ModuleType) -> None:
    assert bench.pair_counts(bench.DEFAULT_PAIRS) == {"1m": 64, "100k": 16, "1k": 16}


def test_one_number_is_every_file_case_and_names_pick_cases(bench: ModuleType) -> None:
    assert bench.pair_counts("8") == {"1m": 8, "100k": 8, "1k": 8}
    assert bench.pair_counts(" 1m=32 , 1k=4 ") == {"1m": 32, "1k": 4}
    assert bench.pair_counts("0") == {"1m": 0, "100k": 0, "1k": 0}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("many", "'many' is not a whole number"),
        ("1m=x", "'x' is not a whole number"),
        ("json=4", "'json=4' is not CASE=N with CASE one of 1m, 100k, 1k"),
        ("1m=4,1m=8", "names 1m twice"),
        ("-2", "-2 is negative"),
    ],
)
def test_bad_pairs_are_refused_by_name(bench: ModuleType, text: str, says: str) -> None:
    with pytest.raises(bench.BenchError, match="--pairs") as caught:
        bench.pair_counts(text)
    assert says in str(caught.value)


@pytest.mark.parametrize(("trials", "needed"), [(16, 12), (64, 40)])
def test_sign_test_needs_what_the_docstring_says(
    bench: ModuleType, trials: int, needed: int
) -> None:
    assert bench.sign_test(needed, trials) < 0.05
    assert bench.sign_test(needed - 1, trials) >= 0.05


def test_verdicts_follow_the_sign_test_both_ways(bench: ModuleType) -> None:
    ahead = bench.PairedRatio((1.02,) * 40 + (0.98,) * 24)
    behind = bench.PairedRatio((0.98,) * 40 + (1.02,) * 24)
    level = bench.PairedRatio((1.02,) * 39 + (0.98,) * 25)
    assert ahead.verdict() == "met"
    assert behind.verdict() == "MISSED"
    assert level.verdict() == "MISSED (level)"


def test_client_cores_are_wrk_cpu_over_the_runs_length(bench: ModuleType) -> None:
    import harness

    wrk = harness.WrkResult(2000.0, 1.0, 5.0, 1e9, 4000, 0, client_cpu_s=1.5)
    assert harness.Run(wrk, cpu_s=1.8).client_cores == pytest.approx(0.75)  # 1.5 s over 2 s
    unmeasured = harness.WrkResult(2000.0, 1.0, 5.0, 1e9, 4000, 0)
    assert math.isnan(harness.Run(unmeasured, cpu_s=1.8).client_cores)


@pytest.mark.parametrize("cores", [0, -0.5, float("nan"), float("inf")])
def test_a_cpu_limit_of_no_cores_is_refused(bench: ModuleType, cores: float) -> None:
    import harness

    with pytest.raises(harness.BenchError, match="more than 0 cores"), harness.cpu_limit(cores):
        pass  # pragma: no cover - refused before the group exists
