"""Fixtures shared by the agent tests.

``hybrid_launch_runs``: the tiny launch/train.py runs of hybrids 2 and 3 are started in
the background when the first agent test runs (only for the hybrid test modules that were
collected), so they overlap the in-process tests instead of running one after another.
"""

import pytest

from hybrid_helpers import LaunchRun

# algorithm -> (test module that checks its run, extra overrides)
HYBRID_RUNS = {
    "shared_representation": ("test_shared_representation.py", ()),
    # Depth 1 is not the default (2), so the test sees the override take effect.
    "planning": ("test_planning.py", ("agent.planning_depth=1",)),
}


@pytest.fixture(scope="session", autouse=True)
def hybrid_launch_runs(request, tmp_path_factory):
    collected = {item.path.name for item in request.session.items}
    runs = {algorithm: LaunchRun(algorithm, tmp_path_factory.mktemp(algorithm) / "run", *overrides)
            for algorithm, (module, overrides) in HYBRID_RUNS.items() if module in collected}
    yield runs
    for run in runs.values():
        run.kill()
