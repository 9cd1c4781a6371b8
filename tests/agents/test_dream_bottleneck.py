"""DREAM's information bottleneck inside a training step."""

import numpy as np

from hybrid_helpers import make_agent, random_batch


def test_noise_free_bottleneck_trains_and_reports_no_kl():
    """rho = 0 (z = f(mu), the natural "no bottleneck noise" ablation) has no finite KL:
    the step trains and leaves the KL out instead of reporting NaN."""
    agent = make_agent("dream", bottleneck_noise=0.0)
    metrics = agent.train_step(random_batch(agent, seed=2))
    assert "execute/bottleneck_kl" not in metrics
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics


def test_noisy_bottleneck_reports_its_kl():
    """KL(N(f, rho^2) || N(0, rho^2)) = ||f||^2 / (2 rho^2), averaged over the batch's
    execution problems."""
    agent = make_agent("dream", bottleneck_noise=0.5)
    batch = random_batch(agent, seed=2)
    f = agent.encoder(batch["problem_id"]).numpy()  # before the step changes the encoder
    metrics = agent.train_step(batch)
    expected = np.mean(np.sum(f ** 2, axis=-1)) / (2 * 0.5 ** 2)
    np.testing.assert_allclose(float(metrics["execute/bottleneck_kl"]), expected, rtol=1e-5)
