"""Hybrid 1 (gradient embedder) hyper-parameters: DREAM's plus the dynamics model, the
MAML inner loop and the gradient embedder."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.dream.config import DreamConfig
from tf_metarl.config import check, check_layer_sizes


@dataclasses.dataclass(frozen=True)
class GradientEmbedderConfig(DreamConfig):
    """DREAM + a MAML-adapted dynamics model whose inner-loop gradients embed the task."""

    # Dynamics model D_theta(s, a): one-hot input, per-field categorical next observation.
    dynamics_hidden: tuple[int, ...] = (64, 64)  # ReLU hidden layers
    dynamics_loss_weight: float = 1.0  # weight of the MAML outer loss in the execution learner's loss

    # MAML inner loop (on the trial's exploration episode).
    inner_steps: int = 1  # k chained inner SGD steps
    inner_learning_rate: float = 0.1  # alpha (initial value when learned)
    first_order: bool = False  # FOMAML: inner gradients treated as constants
    learn_inner_rates: bool = False  # MAML++ learned per-step, per-weight-tensor rates
    multi_step_loss: bool = False  # MAML++: outer loss averaged over every inner step's weights

    # Gradient embedder h_phi (inner gradients -> task embedding of size z_dim).
    gradient_embedder_hidden: tuple[int, ...] = (128,)  # ReLU hidden layers of h_phi
    gradient_norm_eps: float = 1e-4  # n = sqrt(||g||^2 + eps^2) in the per-tensor normalisation
    # 'concat': execution policy sees [DREAM's z, h_phi(grad)]; 'replace': h_phi(grad) stands
    # in for the decoder's z (the decoder still shapes the exploration reward).
    embedder_mode: str = "concat"
    embedder_loss_weight: float = 1.0  # weight of ||h_phi(grad) - stop_gradient(f(mu))||^2
    # True: the embedder's losses (its f(mu) regression and, in concat mode, the TD loss)
    # reach theta through the inner gradients (second order); False stops them there.
    embedder_grads_to_dynamics: bool = True

    @classmethod
    def tiny_overrides(cls) -> dict:
        return {**super().tiny_overrides(), "dynamics_hidden": (16,), "gradient_embedder_hidden": (16,)}

    def validate(self) -> None:
        super().validate()
        check_layer_sizes(self, "dynamics_hidden", "gradient_embedder_hidden")
        check(isinstance(self.inner_steps, int) and self.inner_steps >= 1,
              f"agent.inner_steps={self.inner_steps!r}: expected an integer >= 1")
        check(self.inner_learning_rate > 0,
              f"agent.inner_learning_rate={self.inner_learning_rate!r}: expected > 0")
        check(self.gradient_norm_eps > 0,
              f"agent.gradient_norm_eps={self.gradient_norm_eps!r}: expected > 0")
        for name in ("dynamics_loss_weight", "embedder_loss_weight"):
            value = getattr(self, name)
            check(value >= 0, f"agent.{name}={value!r}: expected >= 0")
        check(self.embedder_mode in ("concat", "replace"),
              f"agent.embedder_mode={self.embedder_mode!r}: expected 'concat' or 'replace'")
