"""The rliable statistics of the results page, by hand, and launch/plot.py on the committed
fixture (tests/experiments/fixtures/runs: <env>/<algorithm>/seed<k>)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tf_metarl.experiments import plotting, results
from tf_metarl.experiments import robust_stats as rs

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLOT = ROOT / "launch" / "plot.py"
FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "runs"
FAST = rs.Bootstrap(reps=200, seed=3)


def test_iqm_by_hand():
    # Five runs: int(0.25 * 5) = 1 cut at each end, so the mean of 0.3, 0.5, 0.6.
    assert rs.iqm([0.9, 0.1, 0.5, 0.6, 0.3]) == pytest.approx((0.3 + 0.5 + 0.6) / 3)
    # Four runs: one cut at each end, (0.6 + 0.7) / 2.
    assert rs.iqm([0.8, 0.2, 0.7, 0.6]) == pytest.approx(0.65)
    # Three runs: int(0.75) = 0 cut, the plain mean.
    assert rs.iqm([0.1, 0.3, 0.5]) == pytest.approx(0.3)
    # An outlier moves the mean but not the IQM.
    assert rs.iqm([0.5, 0.6, 0.7, -5.0]) == rs.iqm([0.5, 0.6, 0.7, 0.4])


def test_probability_of_improvement_by_hand():
    # X = (0.6, 0.8, 0.7), Y = (0.5, 0.7, 0.4, 0.1, 0.2): of the 15 pairs 0.6 wins 4, 0.8
    # wins 5, 0.7 wins 4 and ties 1 (half): 13.5 / 15 = 0.9.
    p = rs.probability_of_improvement([0.6, 0.8, 0.7], [0.5, 0.7, 0.4, 0.1, 0.2], FAST)
    assert p.value == pytest.approx(0.9)
    assert 0 <= p.low <= 0.9 <= p.high <= 1
    # Swapped, it is the complement; equal samples give 0.5.
    assert rs.probability_of_improvement([0.5, 0.7, 0.4, 0.1, 0.2], [0.6, 0.8, 0.7], FAST).value \
        == pytest.approx(0.1)
    assert rs.probability_of_improvement([0.3, 0.4], [0.3, 0.4], FAST).value == 0.5
    # One run of either: no interval.
    assert not rs.probability_of_improvement([0.6], [0.5, 0.7], FAST).has_interval


def test_intervals_are_reproducible_and_leave_the_global_state_alone():
    values = [0.9, 0.1, 0.5, 0.6, 0.3]
    first = rs.iqm_estimate(values, FAST)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    rs.mean_estimate([0.2, 0.4, 0.1], FAST)  # draws between the two calls
    assert np.array_equal(np.random.get_state()[1], before)
    assert rs.iqm_estimate(values, FAST) == first
    assert first.low <= first.value <= first.high
    # Resampling never leaves the range of the runs.
    assert 0.1 <= first.low and first.high <= 0.9
    assert rs.iqm_estimate(values, rs.Bootstrap(reps=200, seed=4)) != first
    assert not rs.iqm_estimate([0.5], FAST).has_interval
    with pytest.raises(ValueError, match="reps=5"):
        rs.Bootstrap(reps=5)


def test_performance_profile_by_hand():
    taus = np.array([0.0, 0.25, 0.5, 0.75])
    profile, band = rs.performance_profile([0.2, 0.6, 0.8, 0.3], taus, FAST)
    # Runs above 0: all four; above 0.25: 0.3, 0.6, 0.8; above 0.5: 0.6, 0.8; above 0.75: 0.8.
    np.testing.assert_allclose(profile, [4 / 4, 3 / 4, 2 / 4, 1 / 4])
    assert band.shape == (2, 4) and np.all(band[0] <= profile) and np.all(profile <= band[1])


def test_bootstrap_band_of_learning_curves_resamples_whole_curves():
    x = np.array([0.0, 1.0])
    # Two curves (0, 0) and (1, 1): a resample takes each curve 0, 1 or 2 times, so the mean
    # at both points is one of 0, 0.5, 1 and is the same at both points.
    grid, mean, low, high = plotting.mean_and_band(
        [(x, np.zeros(2)), (x, np.ones(2))], band="bootstrap", num_points=2, bootstrap=FAST)
    np.testing.assert_allclose(mean, [0.5, 0.5])
    np.testing.assert_allclose(low, [0.0, 0.0])  # a quarter of resamples pick curve 0 twice
    np.testing.assert_allclose(high, [1.0, 1.0])
    # Reproducible from the seed.
    np.testing.assert_array_equal(rs.pointwise_mean_interval(np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.3]]), FAST),
                                  rs.pointwise_mean_interval(np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.3]]), FAST))


def test_censored_steps_by_hand():
    steps, reached = rs.censored_steps([100.0, None, 200.0], [300.0, 300.0, 300.0])
    np.testing.assert_allclose(steps, [100, 300, 200])  # the run that never got there: its budget
    assert reached == 2


@pytest.mark.parametrize("algorithm,p,word", [
    ("gradient_embedder", rs.Estimate(0.8, 0.6, 0.95), "confirmed"),
    ("gradient_embedder", rs.Estimate(0.6, 0.3, 0.8), "not confirmed"),
    ("gradient_embedder", rs.Estimate(0.1, 0.0, 0.3), "refuted"),
    ("shared_representation", rs.Estimate(0.5, 0.3, 0.7), "confirmed"),
    ("shared_representation", rs.Estimate(0.2, 0.05, 0.45), "refuted"),
    ("planning", rs.Estimate(0.2, 0.05, 0.45), "confirmed"),
    ("planning", rs.Estimate(0.4, 0.2, 0.6), "not confirmed"),
    ("planning", rs.Estimate(0.9, 0.7, 1.0), "refuted"),
    ("planning", rs.Estimate(0.9), "undecided"),
])
def test_claims_are_decided_by_the_interval_against_one_half(algorithm, p, word):
    verdict = rs.decide_claim(algorithm, p)
    assert verdict.word == word
    if word == "not confirmed" or algorithm == "shared_representation" and word == "confirmed":
        assert "not separable" in verdict.text


def write_run(folder, algorithm, seed, returns, agent=()):
    """A finished run folder with one evaluation per 100 env steps."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"algorithm": algorithm, "env": {"preset": "distracting_bus_map"},
         "run": {"seed": seed, "total_env_steps": 100 * len(returns)}, "agent": dict(agent)}))
    (folder / "eval.csv").write_text("env_steps,eval_return\n" + "".join(
        f"{100 * i},{r}\n" for i, r in enumerate(returns)))
    (folder / "summary.json").write_text("{}")


def test_variants_are_read_in_both_layouts(tmp_path):
    write_run(tmp_path / "kept/distracting_bus_map/dream/seed0", "dream", 0, [0.0, 0.5])
    write_run(tmp_path / "kept/distracting_bus_map/dream/wide/seed0", "dream", 0, [0.0, 0.5],
              agent={"learning_rate": 1e-3})
    write_run(tmp_path / "sweep/dream/distracting_bus_map/base/seed1", "dream", 1, [0.0, 0.5])
    write_run(tmp_path / "sweep/dream/distracting_bus_map/lr/seed1", "dream", 1, [0.0, 0.5],
              agent={"learning_rate": 1e-3})
    found = lambda root: sorted((r.variant, r.seed) for r in plotting.find_runs([str(root)]))
    assert found(tmp_path / "kept") == [("base", 0), ("wide", 0)]
    assert found(tmp_path / "kept/distracting_bus_map") == [("base", 0), ("wide", 0)]
    assert found(tmp_path / "sweep") == [("base", 1), ("lr", 1)]


def test_plot_script_on_the_fixture_by_hand(tmp_path):
    out = tmp_path / "figures"
    result = subprocess.run([sys.executable, str(PLOT), f"--runs={FIXTURE}", f"--output_dir={out}",
                             "--bootstrap_reps=200", "--figures=meta_test_return,performance_profile,"
                             "probability_of_improvement"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    text = (out / "results.md").read_text()
    for name in ("meta_test_return", "performance_profile", "probability_of_improvement"):
        assert (out / f"{name}.png").stat().st_size > 1000 and f"]({name}.png)" in text
    # The table comes first.
    assert text.index("| algorithm | runs finished |") < text.index("## Figures")

    rows = {(r["env_preset"], r["algorithm"]): r
            for r in results.results_table(plotting.find_runs([str(FIXTURE)]), 0.7, FAST)}
    dream, planning = rows["distracting_bus_map", "dream"], rows["distracting_bus_map", "planning"]
    # dream's finals 0.2, 0.6, 0.7, 0.8: IQM (0.6 + 0.7) / 2 = 0.65, mean 0.575, sample std
    # sqrt((0.375² + 0.025² + 0.125² + 0.225²) / 3) = 0.263.
    assert dream["final_iqm"].value == pytest.approx(0.65)
    np.testing.assert_allclose(dream["final_return"], (0.575, 0.26300), atol=1e-5)
    # First evaluation >= 0.7: seed 0 never (counted at its 300 k budget), seed 1 at 200 k,
    # seed 2 at 100 k, seed 3 at 200 k; the IQM of (100, 200, 200, 300) k is 200 k, a lower
    # bound since one run is censored.
    np.testing.assert_allclose(dream["steps_to_target_runs"], [300e3, 200e3, 100e3, 200e3])
    assert dream["runs_reaching_target"] == 3 and dream["steps_to_target"].value == 200e3
    # planning's finals 0.1, 0.3, 0.5: three runs, nothing trimmed, IQM 0.3; none reaches 0.7.
    assert planning["final_iqm"].value == pytest.approx(0.3) and planning["runs_reaching_target"] == 0
    assert "| dream | 4/4 | 0,1,2,3 | 300,000 | 0.650 [" in text
    assert "| 0.575 ± 0.263 | ≥ 200 [" in text and "| 3/4 |" in text
    assert "| planning | 3/3 | 0,1,2 | 300,000 | 0.300 [" in text and "| — | 0/3 |" in text
    # P(planning > dream): 0.1 beats none of (0.2, 0.6, 0.7, 0.8), 0.3 and 0.5 beat 0.2:
    # 2 of 12 pairs, 0.17.
    assert "| distracting_bus_map | planning | 0.17 [" in text and "| 3 / 4 |" in text
    # The claims: planning's decided from its interval, the other two without runs say so.
    claims = text[text.index("## The seed paper's three claims"):text.index("## DREAM paper Fig. 6")]
    p = rs.probability_of_improvement([0.1, 0.3, 0.5], [0.2, 0.6, 0.7, 0.8], rs.Bootstrap(reps=200))
    assert f"**{rs.decide_claim('planning', p).word}**: P(planning > dream) = 0.167 [" in claims
    assert claims.count("Not decided: no env has finished runs") == 2
    # Fig. 6: dream on distracting_bus, at 1 M env steps 0.78 and 0.74 (mean 0.76, std
    # 0.028); at the end (1.2 M) 0.80 and 0.76. The baselines have no runs.
    fig6 = text[text.index("## DREAM paper Fig. 6"):]
    assert "| dream | 0.79 ± 0.01 | 2 | 0.760 ± 0.028 | 1,200,000 | 0.780 ± 0.028 |" in fig6
    # The bootstrap of the mean of two runs at 1 M stays within [0.74, 0.78]: 0.79 is outside.
    assert fig6.splitlines()[next(i for i, l in enumerate(fig6.splitlines()) if l.startswith("| dream"))] \
        .endswith("| no |")
    assert "| varibad | -0.55 ± 0.63 | 0 |" in fig6 and fig6.count("no finished runs") == 3


def test_finished_runs_without_evaluations_have_no_statistics(tmp_path):
    write_run(tmp_path / "distracting_bus_map/dream/seed0", "dream", 0, [0.0, 0.5])
    write_run(tmp_path / "distracting_bus_map/dream/seed1", "dream", 1, [0.0, 0.7])
    planning = tmp_path / "distracting_bus_map/planning/seed0"
    write_run(planning, "planning", 0, [0.0])
    (planning / "eval.csv").unlink()
    (planning / "train.csv").write_text("env_steps,train_return\n0,0.1\n")
    runs = plotting.find_runs([str(tmp_path)])
    analysis = results.analyze(runs, 0.7, FAST)
    assert list(analysis.profiles["distracting_bus_map"][1]) == ["dream"]
    assert analysis.improvement["distracting_bus_map"] == []  # nothing to compare
    text = results.results_markdown(runs, 0.7, FAST, analysis)
    assert "| planning | 1/1 | 0 | — | — | — | — | 0/1 |" in text
    assert "Not decided: no env has finished runs of both planning and dream." in text
