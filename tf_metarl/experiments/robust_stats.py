"""Robust statistics of a few seeds per algorithm, computed with rliable.

With 3-5 seeds per algorithm a mean ± std says little: one collapsed seed moves it, and a
Student's t interval assumes normal returns. rliable (Agarwal et al., "Deep RL at the Edge
of the Statistical Precipice", NeurIPS 2021) is the library made for this; we use it for

* the IQM (interquartile mean: the mean of the middle 50% of runs, ``scipy.stats.trim_mean``
  cutting int(0.25 n) of the n runs at each end: for 4 or 5 runs one, for 3 runs none) of a per-run
  value, with a stratified-bootstrap 95% interval (``get_interval_estimates``);
* performance profiles: the fraction of runs whose value exceeds each threshold tau, with
  bootstrap 95% bands (``create_performance_profile``);
* the probability of improvement P(X > Y): the chance that a random run of X beats a random
  run of Y (ties count half, the Mann-Whitney U statistic over nx * ny), with a bootstrap
  interval resampling X's and Y's runs independently.

Each env preset is one "task", so the stratified bootstrap here resamples runs: the
percentile bootstrap over seeds. Intervals are percentile intervals at 95%.

rliable draws its bootstrap indices from numpy's global random state. So that a page
regenerates with the same numbers, every estimate runs inside ``_seeded``, which seeds that
state from ``Bootstrap.seed`` and restores the caller's state afterwards; the same seed and
reps give the same intervals whatever was computed before.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterator, Sequence

import numpy as np

# The three hybrids of the seed paper, compared against DREAM.
HYBRIDS = ("gradient_embedder", "shared_representation", "planning")
REFERENCE_ALGORITHM = "dream"


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How intervals are bootstrapped."""
    reps: int = 1000  # bootstrap resamples per interval (rliable's default 50,000 is for publication)
    seed: int = 0  # seeds numpy's global state, which rliable draws from, for each estimate
    confidence: float = 0.95  # coverage of the percentile intervals

    def __post_init__(self):
        if not isinstance(self.reps, int) or isinstance(self.reps, bool) or self.reps < 10:
            raise ValueError(f"reps={self.reps!r}: expected an integer >= 10")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r}: expected a fraction in (0, 1)")


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval (NaN bounds with fewer than two runs: one run says
    nothing about the spread)."""
    value: float
    low: float = float("nan")
    high: float = float("nan")

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def contains(self, x: float) -> bool:
        return self.has_interval and self.low <= x <= self.high

    def text(self, fmt: str = ".3f", scale: float = 1.0) -> str:
        """'value [low, high]', just the value without an interval, '—' without a value."""
        if not np.isfinite(self.value):
            return "—"
        f = lambda x: format(x / scale, fmt)
        return f(self.value) + (f" [{f(self.low)}, {f(self.high)}]" if self.has_interval else "")


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _scores(values: Sequence[float]) -> np.ndarray:
    """rliable's layout: [runs, tasks], here one task."""
    scores = np.asarray(values, dtype=float).reshape(-1, 1)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"values {list(scores[:, 0])}: expected finite numbers")
    return scores


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean of ``values`` (rliable's ``aggregate_iqm``)."""
    from rliable import metrics
    return float(metrics.aggregate_iqm(_scores(values)))


def _estimate(values: Sequence[float], aggregate: Callable[[np.ndarray], float],
              bootstrap: Bootstrap) -> Estimate:
    from rliable import library
    scores = _scores(values)
    if not len(scores):
        return Estimate(float("nan"))
    point = float(aggregate(scores))
    if len(scores) < 2:
        return Estimate(point)
    with _seeded(bootstrap.seed):
        _, intervals = library.get_interval_estimates(
            {"x": scores}, lambda s: np.array([aggregate(s)]), reps=bootstrap.reps,
            confidence_interval_size=bootstrap.confidence)
    low, high = intervals["x"][:, 0]
    return Estimate(point, float(low), float(high))


def iqm_estimate(values: Sequence[float], bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """IQM of per-run values with its stratified-bootstrap interval."""
    from rliable import metrics
    return _estimate(values, metrics.aggregate_iqm, bootstrap)


def mean_estimate(values: Sequence[float], bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """Mean of per-run values with its stratified-bootstrap interval."""
    from rliable import metrics
    return _estimate(values, metrics.aggregate_mean, bootstrap)


def probability_of_improvement(x: Sequence[float], y: Sequence[float],
                               bootstrap: Bootstrap = Bootstrap()) -> Estimate:
    """P(a run of X beats a run of Y), ties counting half, with a bootstrap interval that
    resamples X's and Y's runs independently (NaN bounds when either has one run)."""
    from rliable import library, metrics
    scores_x, scores_y = _scores(x), _scores(y)
    if not len(scores_x) or not len(scores_y):
        return Estimate(float("nan"))
    point = float(metrics.probability_of_improvement(scores_x, scores_y))
    if len(scores_x) < 2 or len(scores_y) < 2:
        return Estimate(point)
    with _seeded(bootstrap.seed):
        _, intervals = library.get_interval_estimates(
            {"x": [scores_x, scores_y]},
            lambda sx, sy: np.array([metrics.probability_of_improvement(sx, sy)]),
            reps=bootstrap.reps, confidence_interval_size=bootstrap.confidence)
    low, high = intervals["x"][:, 0]
    return Estimate(point, float(low), float(high))


def performance_profile(values: Sequence[float], taus: np.ndarray,
                        bootstrap: Bootstrap = Bootstrap()) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of runs with value > tau for each tau, its [2, len(taus)] bootstrap band;
    the band equals the profile for one run)."""
    from rliable import library
    scores = _scores(values)
    taus = np.asarray(taus, dtype=float)
    # The fraction above every tau in one vectorized step; rliable's own profile function
    # loops over taus in Python, 100x slower per bootstrap resample.
    profile_of = lambda s: (s.reshape(-1, 1) > taus.reshape(1, -1)).mean(axis=0)
    profile = profile_of(scores)
    if len(scores) < 2:
        return profile, np.stack([profile, profile])
    with _seeded(bootstrap.seed):
        _, intervals = library.get_interval_estimates(
            {"x": scores}, profile_of, reps=bootstrap.reps,
            confidence_interval_size=bootstrap.confidence)
    return profile, np.asarray(intervals["x"])


def pointwise_mean_interval(curves: np.ndarray, bootstrap: Bootstrap = Bootstrap()
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the percentile-bootstrap interval of the mean of ``curves`` [runs,
    points] at each point. Each resample draws whole curves (runs): every point's interval
    is the same as from its own draws, but neighbouring points share resamples, so the
    band's edges are as smooth as the curves."""
    from rliable import library
    curves = np.asarray(curves, dtype=float)
    # rliable draws a run index per cell of its [runs, tasks, ...] input, so points given as
    # cells would each draw their own runs. Bootstrapping the run numbers [runs, 1] and
    # averaging the curves they pick resamples whole curves.
    run_numbers = np.arange(len(curves), dtype=float)[:, None]
    with _seeded(bootstrap.seed):
        _, intervals = library.get_interval_estimates(
            {"x": run_numbers}, lambda picked: curves[picked[:, 0].astype(int)].mean(axis=0),
            reps=bootstrap.reps, confidence_interval_size=bootstrap.confidence)
    return intervals["x"][0], intervals["x"][1]


def censored_steps(first_steps: Sequence[float | None], budgets: Sequence[float]) -> tuple[np.ndarray, int]:
    """Env steps to a target per run, a run that never reached it counted as its budget.

    Such a run is right-censored: it would reach the target later, if ever. Counting it at
    its budget keeps every run in the statistic (leaving it out would favour algorithms
    whose slow seeds fail), so an IQM over these steps is a lower bound whenever a run is
    censored. Returns (steps, number of runs that reached the target).
    """
    steps = [budget if first is None else first for first, budget in zip(first_steps, budgets)]
    return np.asarray(steps, dtype=float), sum(first is not None for first in first_steps)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim of the seed paper decided by one statistic."""
    claim: str
    word: str  # "confirmed", "refuted", "not confirmed" or "undecided"
    text: str


def _versus(algorithm: str, p: Estimate, reference: str = REFERENCE_ALGORITHM) -> str:
    return f"P({algorithm} > {reference}) = {p.text()}"


def decide_claim(algorithm: str, p: Estimate, iqm_difference: Estimate | None = None) -> Verdict:
    """Decides the seed paper's claim about ``algorithm`` against DREAM from the
    probability-of-improvement interval ``p`` (of the final held-out return):

    * gradient_embedder beats DREAM later in training: confirmed when the interval lies
      above 0.5, refuted when below, else not confirmed (not separable);
    * shared_representation is on par with DREAM: confirmed when the interval contains 0.5
      (not separable with these seeds: consistent with the claim, no proof of equality),
      refuted when it excludes 0.5;
    * planning is worse than DREAM: confirmed when below 0.5, refuted when above, else not
      confirmed.
    """
    claims = {
        "gradient_embedder": "the gradient embedder reaches a higher meta-test return than DREAM "
                             "later in training",
        "shared_representation": "the shared representation performs on par with DREAM",
        "planning": "planning with the learned model performs worse than DREAM",
    }
    if algorithm not in claims:
        raise ValueError(f"algorithm={algorithm!r}: expected one of {sorted(claims)}")
    claim = claims[algorithm]
    diff = "" if iqm_difference is None or not np.isfinite(iqm_difference.value) else (
        f"; IQM difference ({algorithm} − dream) {iqm_difference.text('+.3f')}")
    if not p.has_interval:
        return Verdict(claim, "undecided",
                       f"{_versus(algorithm, p)}: too few finished runs for an interval "
                       f"(at least 2 of each are needed){diff}")
    above, below = p.low > 0.5, p.high < 0.5
    relation = ("better than DREAM (the 95% interval lies above 0.5)" if above else
                "worse than DREAM (the 95% interval lies below 0.5)" if below else
                "not separable from DREAM (the 95% interval contains 0.5)")
    if algorithm == "gradient_embedder":
        word = "confirmed" if above else "refuted" if below else "not confirmed"
    elif algorithm == "shared_representation":
        word = "refuted" if above or below else "confirmed"
        if word == "confirmed":
            relation += ": consistent with on-par performance, though these seeds cannot exclude a difference"
    else:
        word = "confirmed" if below else "refuted" if above else "not confirmed"
    return Verdict(claim, word, f"{_versus(algorithm, p)}: {algorithm} is {relation}{diff}")


# The DREAM paper's Fig. 6 (Liu et al., "Decoupling Exploration and Exploitation for
# Meta-Reinforcement Learning without Sacrifices", ICML 2021): average return on the
# distracting-bus task after 1 M env steps, mean ± std over 3 seeds, read from the bar chart
# (so to about ±0.01). Our runs are compared with these values, nowhere else written down.
PAPER_FIG6_ENV = "distracting_bus"
PAPER_FIG6_ENV_STEPS = 1_000_000
PAPER_FIG6 = {  # algorithm -> (mean, std)
    "dream": (0.79, 0.01),
    "e_rl2": (0.33, 0.03),
    "import": (0.23, 0.10),
    "varibad": (-0.55, 0.63),
}
PAPER_FIG6_NO_EXPLORATION = 0.30
PAPER_FIG6_OPTIMAL = 0.80
PAPER_FIG6_SOURCE = ("DREAM paper (Liu et al., ICML 2021), Fig. 6, distracting bus, "
                     "1 M env steps, read from the bar chart")
