"""MAML (Finn et al. 2017) on fast weights of any Keras model, with MAML++ options.

The model's variables are never updated in place. ``MAML.weights()`` reads theta as a
list of tensors; ``MAML.adapt`` takes k gradient steps on an inner (support) loss, each
step from the previous step's fast weights, and returns every step's weights and
gradients; ``MAML.outer_loss`` evaluates a query loss on the adapted weights. Run all of
it under the caller's ``tf.GradientTape`` and the outer gradient reaches theta through the
inner loop:

    maml = MAML(model, num_steps=2, learning_rate=0.1)
    with tf.GradientTape() as tape:
        theta = maml.weights()
        adaptation = maml.adapt(lambda w: support_loss(maml(w, x_s), y_s), theta)
        loss = maml.outer_loss(adaptation, lambda w: query_loss(maml(w, x_q), y_q))
    grads = tape.gradient(loss, model.trainable_variables)

Second order (the default): each inner gradient is itself differentiated, so the outer
gradient includes the Hessian terms d g_i / d theta. First order (``first_order=True``):
the inner gradients are constants (``tf.stop_gradient``), so d theta_k / d theta = I and
the outer gradient is the query gradient at theta_k (FOMAML).

MAML++ (Antoniou et al. 2019) options: learned per-step, per-weight-tensor inner learning
rates (``InnerLearningRates``, "LSLR"), and the multi-step loss (the outer loss averaged
over the weights after every inner step instead of only the last).

The functions here work on one task. To adapt a batch of tasks, map a per-task function
over them with ``tf.vectorized_map`` (see ``tf_metarl.agents.gradient_embedder``): pfor
vectorises the nested tapes, and the second-order gradient still flows.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import keras
import tensorflow as tf

Weights = list  # list[tf.Tensor], one per model.trainable_variables entry, in that order


class InnerLearningRates(keras.layers.Layer):
    """MAML++ learned inner learning rates: one scalar per inner step and weight tensor.

    ``rates[i, j]`` scales the gradient of weight tensor j at inner step i. All start at
    ``initial_rate``. With ``trainable=False`` they stay fixed (plain MAML, but per tensor).
    """

    def __init__(self, num_steps: int, num_tensors: int, initial_rate: float,
                 trainable: bool = True, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        self.num_steps, self.num_tensors = int(num_steps), int(num_tensors)
        self.rates = self.add_weight(shape=(self.num_steps, self.num_tensors), name="rates",
                                     initializer=keras.initializers.Constant(initial_rate),
                                     trainable=trainable)

    def values(self) -> tf.Tensor:
        """[num_steps, num_tensors] rates (read under the caller's tape, so they train)."""
        return tf.convert_to_tensor(self.rates.value)


@dataclasses.dataclass
class Adaptation:
    """The result of k inner steps from theta_0 = theta.

    theta_{i+1} = theta_i - alpha_i * g_i with g_i = grad L_inner(theta_i).

    Attributes:
      weights: theta_k, the adapted fast weights.
      step_weights: [theta_1, ..., theta_k].
      gradients: [g_0, ..., g_{k-1}], each a list of tensors shaped like the weights
        (gradient-stopped under first-order MAML).
      inner_losses: [L_inner(theta_0), ..., L_inner(theta_{k-1})].
    """
    weights: Weights
    step_weights: list[Weights]
    gradients: list[Weights]
    inner_losses: list[tf.Tensor]


class MAML:
    """The MAML inner loop on fast weights of ``model`` (a built Keras model or layer).

    Args:
      model: The model theta parameterises. Only its ``stateless_call`` is used.
      num_steps: k >= 1 inner gradient steps.
      learning_rate: alpha, the inner SGD step size (the initial value when learned).
      first_order: Treat inner gradients as constants (FOMAML).
      learned_rates: MAML++ per-step, per-tensor rates; None uses ``learning_rate``.
      multi_step_loss: MAML++: ``outer_loss`` averages over theta_1..theta_k.
    """

    def __init__(self, model, num_steps: int = 1, learning_rate: float = 0.1,
                 first_order: bool = False, learned_rates: InnerLearningRates | None = None,
                 multi_step_loss: bool = False):
        if num_steps < 1:
            raise ValueError(f"num_steps={num_steps!r}: expected >= 1")
        if not model.built:
            raise ValueError("MAML needs a built model (call it once on example inputs)")
        if learned_rates is not None and (
                learned_rates.num_steps != num_steps
                or learned_rates.num_tensors != len(model.trainable_variables)):
            raise ValueError(
                f"learned_rates has shape [{learned_rates.num_steps}, {learned_rates.num_tensors}], "
                f"expected [{num_steps}, {len(model.trainable_variables)}] (steps, weight tensors)")
        self.model = model
        self.num_steps = int(num_steps)
        self.learning_rate = float(learning_rate)
        self.first_order = bool(first_order)
        self.learned_rates = learned_rates
        self.multi_step_loss = bool(multi_step_loss)

    # ---- fast weights ----------------------------------------------------------------------
    def weights(self) -> Weights:
        """theta as tensors; read under the caller's tape so gradients reach the variables."""
        return [tf.convert_to_tensor(v.value) for v in self.model.trainable_variables]

    def __call__(self, weights: Sequence[tf.Tensor], *args, **kwargs):
        """The model's output with ``weights`` substituted for its trainable variables."""
        non_trainable = [v.value for v in self.model.non_trainable_variables]
        outputs, _ = self.model.stateless_call(list(weights), non_trainable, *args, **kwargs)
        return outputs

    def _step_rates(self):
        """rate(i, j) of inner step i and weight tensor j: a learned scalar tensor, or the
        Python float alpha (so it takes the weights' dtype without rounding)."""
        if self.learned_rates is None:
            return lambda i, j: self.learning_rate
        rates = self.learned_rates.values()
        return lambda i, j: rates[i, j]

    # ---- inner and outer loop --------------------------------------------------------------
    def adapt(self, inner_loss_fn: Callable[[Weights], tf.Tensor],
              weights: Sequence[tf.Tensor] | None = None) -> Adaptation:
        """k chained inner steps on ``inner_loss_fn(weights) -> scalar`` from ``weights``
        (default: theta). Never touches the model's variables."""
        fast = list(self.weights() if weights is None else weights)
        rate = self._step_rates()
        step_weights, gradients, inner_losses = [], [], []
        for i in range(self.num_steps):
            with tf.GradientTape() as tape:
                tape.watch(fast)
                loss = inner_loss_fn(fast)
            grads = tape.gradient(loss, fast)
            grads = [tf.zeros_like(w) if g is None else tf.convert_to_tensor(g)
                     for g, w in zip(grads, fast)]
            if self.first_order:
                grads = [tf.stop_gradient(g) for g in grads]
            fast = [w - _as_dtype(rate(i, j), w.dtype) * g
                    for j, (w, g) in enumerate(zip(fast, grads))]
            step_weights.append(fast)
            gradients.append(grads)
            inner_losses.append(loss)
        return Adaptation(weights=fast, step_weights=step_weights, gradients=gradients,
                          inner_losses=inner_losses)

    def outer_loss(self, adaptation: Adaptation,
                   outer_loss_fn: Callable[[Weights], tf.Tensor]) -> tf.Tensor:
        """The query loss at theta_k, or (multi-step loss) its mean over theta_1..theta_k."""
        if not self.multi_step_loss:
            return outer_loss_fn(adaptation.weights)
        return tf.add_n([outer_loss_fn(w) for w in adaptation.step_weights]) / self.num_steps


def _as_dtype(rate, dtype):
    """A Python float converts straight to ``dtype``; ``tf.cast`` would round it through
    float32 first."""
    return tf.convert_to_tensor(rate, dtype) if isinstance(rate, float) else tf.cast(rate, dtype)
