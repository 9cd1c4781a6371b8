"""The MAML inner loop: second-order gradients against finite differences, chaining,
first order, MAML++ learned rates and multi-step loss, adaptation to a new task, and
vectorising over tasks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_metarl.losses.dynamics import dynamics_loss
from tf_metarl.meta import MAML, InnerLearningRates
from tf_metarl.networks.dynamics import DynamicsModel


def tanh_model(seed=0):
    """2 -> 3 (tanh) -> 2, float64: small enough for finite differences, curved enough
    that the second-order term matters."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Dense(3, activation="tanh", dtype="float64"),
                              keras.layers.Dense(2, dtype="float64")])
    model.build((None, 2))
    return model


def linear_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Dense(2, dtype="float64")])
    model.build((None, 3))
    return model


def regression_task(seed, n, d_in):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in))
    y = np.stack([np.sin(x.sum(-1)), x[:, 0] * x[:, -1]], -1)
    return tf.constant(x), tf.constant(y)


def mse_fn(maml, x, y):
    """weights -> (1/N) sum_n ||f_w(x_n) - y_n||^2."""
    return lambda w: tf.reduce_sum(tf.square(maml(w, x) - y)) / x.shape[0]


def outer_gradient(maml, support, query, weights):
    with tf.GradientTape() as tape:
        tape.watch(weights)
        adaptation = maml.adapt(mse_fn(maml, *support), weights)
        loss = maml.outer_loss(adaptation, mse_fn(maml, *query))
    return loss, tape.gradient(loss, weights)


def test_second_order_gradient_matches_central_finite_differences():
    model = tanh_model()
    maml = MAML(model, num_steps=2, learning_rate=0.3)
    support, query = regression_task(1, 6, 2), regression_task(2, 6, 2)
    theta = [tf.constant(v.numpy()) for v in model.trainable_variables]
    _, grads = outer_gradient(maml, support, query, theta)

    def outer(weights):
        adaptation = maml.adapt(mse_fn(maml, *support), weights)
        return float(maml.outer_loss(adaptation, mse_fn(maml, *query)))

    h = 1e-6
    for j, w in enumerate(theta):
        flat = w.numpy().ravel()
        numeric = np.zeros_like(flat)
        for i in range(flat.size):
            plus, minus = flat.copy(), flat.copy()
            plus[i] += h
            minus[i] -= h
            at = lambda values: [tf.constant(values.reshape(w.shape)) if k == j else v  # noqa: E731
                                 for k, v in enumerate(theta)]
            numeric[i] = (outer(at(plus)) - outer(at(minus))) / (2 * h)
        np.testing.assert_allclose(grads[j].numpy().ravel(), numeric, rtol=1e-6, atol=1e-8)


def linear_mse_grad(theta, x, y):
    """Hand-written gradient of (1/N)||X~ Theta - Y||^2, X~ = [X, 1], Theta = [W; b]."""
    xa = np.concatenate([x, np.ones((len(x), 1))], -1)
    return 2.0 / len(x) * xa.T @ (xa @ theta - y), 2.0 / len(x) * xa.T @ xa  # grad, Hessian


def stacked(weights):
    kernel, bias = (np.asarray(w) for w in weights)
    return np.concatenate([kernel, bias[None]], 0)  # [(d+1), o]


def test_chained_steps_equal_a_hand_unrolled_chain_and_differ_from_unchained_steps():
    model = linear_model()
    alpha, k = 0.2, 3
    maml = MAML(model, num_steps=k, learning_rate=alpha)
    x, y = (t.numpy() for t in regression_task(3, 5, 3))
    theta = stacked([v.numpy() for v in model.trainable_variables])
    adaptation = maml.adapt(mse_fn(maml, tf.constant(x), tf.constant(y)))

    chained, grads = theta.copy(), []
    for _ in range(k):  # each step's gradient at the previous step's weights
        g, _ = linear_mse_grad(chained, x, y)
        grads.append(g)
        chained = chained - alpha * g
    unchained = theta - k * alpha * linear_mse_grad(theta, x, y)[0]  # every step from theta

    np.testing.assert_allclose(stacked(adaptation.weights), chained, rtol=1e-10)
    for step_grads, g in zip(adaptation.gradients, grads):
        np.testing.assert_allclose(stacked(step_grads), g, rtol=1e-10)
    assert np.abs(stacked(adaptation.weights) - unchained).max() > 1e-3
    # The model's own variables are never touched.
    np.testing.assert_array_equal(stacked([v.numpy() for v in model.trainable_variables]), theta)


def test_first_order_drops_the_second_order_term():
    """One step: theta' = theta - alpha g_s(theta). Second order: (I - alpha H_s) g_q(theta');
    first order: g_q(theta'), with H_s = (2/N) X~^T X~ the support loss's Hessian."""
    model = linear_model()
    alpha = 0.25
    support, query = regression_task(4, 5, 3), regression_task(5, 5, 3)
    theta = [tf.constant(v.numpy()) for v in model.trainable_variables]
    theta_np = stacked(theta)
    g_s, hessian = linear_mse_grad(theta_np, *(t.numpy() for t in support))
    adapted = theta_np - alpha * g_s
    g_q, _ = linear_mse_grad(adapted, *(t.numpy() for t in query))
    expected_first = g_q
    expected_second = (np.eye(len(hessian)) - alpha * hessian) @ g_q

    _, second = outer_gradient(MAML(model, 1, alpha), support, query, theta)
    _, first = outer_gradient(MAML(model, 1, alpha, first_order=True), support, query, theta)
    np.testing.assert_allclose(stacked(second), expected_second, rtol=1e-9)
    np.testing.assert_allclose(stacked(first), expected_first, rtol=1e-9)
    assert np.abs(stacked(first) - stacked(second)).max() > 1e-3


def test_learned_rates_receive_gradients_and_multi_step_loss_averages_the_steps():
    model = tanh_model()
    rates = InnerLearningRates(num_steps=2, num_tensors=4, initial_rate=0.1, dtype="float64")
    maml = MAML(model, num_steps=2, learned_rates=rates, multi_step_loss=True)
    support, query = regression_task(6, 6, 2), regression_task(7, 6, 2)
    with tf.GradientTape() as tape:
        adaptation = maml.adapt(mse_fn(maml, *support))
        loss = maml.outer_loss(adaptation, mse_fn(maml, *query))
    grads = tape.gradient(loss, rates.trainable_variables + model.trainable_variables)
    rate_grad = grads[0].numpy()
    assert rate_grad.shape == (2, 4) and np.all(rate_grad != 0)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads[1:])
    query_loss = mse_fn(maml, *query)
    expected = (query_loss(adaptation.step_weights[0]) + query_loss(adaptation.step_weights[1])) / 2
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-12)
    with pytest.raises(ValueError, match="expected \\[3, 4\\]"):
        MAML(model, num_steps=3, learned_rates=rates)


def test_vectorised_tasks_match_a_loop_over_tasks():
    """The agent adapts a batch of tasks with tf.vectorized_map: values and second-order
    gradients equal a Python loop over the tasks."""
    model = tanh_model()
    maml = MAML(model, num_steps=2, learning_rate=0.3)
    tasks = [regression_task(10 + i, 4, 2) + regression_task(20 + i, 4, 2) for i in range(3)]
    batched = tuple(tf.stack([t[i] for t in tasks]) for i in range(4))

    def per_task(theta, xs, ys, xq, yq):
        return maml.outer_loss(maml.adapt(mse_fn(maml, xs, ys), theta), mse_fn(maml, xq, yq))

    with tf.GradientTape(persistent=True) as tape:
        theta = maml.weights()
        looped = tf.stack([per_task(theta, *t) for t in tasks])
        mapped = tf.vectorized_map(lambda t: per_task(theta, *t), batched,
                                   fallback_to_while_loop=False)
        loop_sum, map_sum = tf.reduce_sum(looped), tf.reduce_sum(mapped)
    np.testing.assert_allclose(mapped.numpy(), looped.numpy(), rtol=1e-10)
    for a, b in zip(tape.gradient(map_sum, model.trainable_variables),
                    tape.gradient(loop_sum, model.trainable_variables)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-12)


# ---- the dynamics model on a bus-map-like task ------------------------------------------
BOUNDS = (5, 5, 2, 25)
RIDE, STOP = 5, (2, 1)


def transitions(destination, rng, n):
    """Random (s, a, s') of a 5x5 grid where riding at STOP teleports to ``destination``:
    the part of the dynamics that differs between problems. Half the samples are rides."""
    xy = rng.integers(0, 5, size=(n, 2))
    xy[: n // 2] = STOP
    actions = rng.integers(0, 4, size=n)
    actions[: n // 2] = RIDE
    moves = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
    nxt = np.clip(xy + moves[np.minimum(actions, 3)], 0, 4)
    nxt[actions == RIDE] = destination
    obs = np.concatenate([xy, np.zeros((n, 2), int)], -1)
    next_obs = np.concatenate([nxt, np.zeros((n, 2), int)], -1)
    return tf.constant(obs, tf.int32), tf.constant(actions, tf.int32), tf.constant(next_obs, tf.int32)


def test_adaptation_lowers_the_loss_on_a_task_whose_dynamics_differ_from_the_prior():
    keras.utils.set_random_seed(0)
    model = DynamicsModel(BOUNDS, num_actions=7, hidden_dims=(32,))
    model(tf.zeros([1, 4], tf.int32), tf.zeros([1], tf.int32))
    rng = np.random.default_rng(0)

    def loss_fn(weights_or_model, obs, actions, next_obs, maml=None):
        logits = maml(weights_or_model, obs, actions) if maml else weights_or_model(obs, actions)
        return dynamics_loss(logits, next_obs, tf.ones(obs.shape[:1]), BOUNDS)

    # The prior: the model trained on problems whose bus goes to (0, 0).
    prior_task = transitions((0, 0), rng, 64)
    optimizer = keras.optimizers.Adam(0.01)

    @tf.function
    def fit():
        with tf.GradientTape() as tape:
            loss = loss_fn(model, *prior_task)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))

    for _ in range(150):
        fit()
    # A new problem: the bus goes to (4, 4). Adapt on its "exploration" transitions,
    # measure on its "execution" transitions.
    support, query = transitions((4, 4), rng, 16), transitions((4, 4), rng, 16)
    maml = MAML(model, num_steps=3, learning_rate=0.5)
    adaptation = maml.adapt(lambda w: loss_fn(w, *support, maml=maml))
    pre = float(loss_fn(maml.weights(), *query, maml=maml))
    post = float(loss_fn(adaptation.weights, *query, maml=maml))
    prior_fit = float(loss_fn(model, *transitions((0, 0), rng, 16)))
    assert pre > prior_fit + 1.0  # the new task's dynamics really differ from the prior
    assert post < pre - 2.0
