"""Network shapes, and that step-by-step acting computes what sequence learning does."""

import keras
import numpy as np
import tensorflow as tf

from tf_metarl.networks.q_networks import ExecuteQNetwork, ExploreQNetwork
from tf_metarl.networks.recurrent import StepLSTM
from tf_metarl.networks.task_embedding import ProblemEncoder, TrajectoryDecoder

BOUNDS = (5, 5, 2, 25)
B, T = 3, 6


def random_obs(rng, shape):
    return np.stack([rng.integers(0, b, size=shape) for b in BOUNDS], axis=-1).astype(np.int32)


def test_lstm_step_equals_sequence():
    lstm = StepLSTM(8)
    x = tf.random.stateless_normal([B, T, 5], seed=[0, 1])
    outputs, final = lstm(x)
    state = lstm.initial_state(B)
    for t in range(T):
        h, state = lstm.step(x[:, t], state)
        np.testing.assert_allclose(h.numpy(), outputs[:, t].numpy(), atol=1e-6)
    np.testing.assert_allclose(state[1].numpy(), final[1].numpy(), atol=1e-6)


def test_lstm_matches_keras_lstm_in_values_and_gradients():
    """Same weights as keras.layers.LSTM (gates i, f, g, o in both): same outputs, and the
    same gradients with respect to the inputs and every weight."""
    lstm = StepLSTM(8)
    x = tf.random.stateless_normal([B, T, 5], seed=[2, 3])
    lstm(x)
    reference = keras.layers.LSTM(8, return_sequences=True)
    reference(x)
    reference.set_weights([lstm.kernel.numpy(), lstm.recurrent_kernel.numpy(), lstm.bias.numpy()])
    readout = tf.random.stateless_normal([B, T, 8], seed=[4, 5])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = lstm(x)[0], reference(x)
        loss_ours, loss_theirs = tf.reduce_sum(ours * readout), tf.reduce_sum(theirs * readout)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    for a, b in zip(tape.gradient(loss_ours, [x, *lstm.trainable_variables]),
                    tape.gradient(loss_theirs, [x, *reference.trainable_variables])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_execute_q_step_equals_sequence():
    rng = np.random.default_rng(0)
    net = ExecuteQNetwork(BOUNDS, (5, 5), num_actions=7, field_dim=4, embed_hidden=8,
                          embed_dim=8, lstm_units=8, hidden_dims=(16, 8))
    obs, goal = random_obs(rng, (B, T)), rng.integers(0, 5, (B, 2)).astype(np.int32)
    z = rng.normal(size=(B, 4)).astype(np.float32)
    q_sequence = net(obs, goal, z)
    assert q_sequence.shape == (B, T, 7)
    state = net.initial_state(B)
    for t in range(T):
        q, state = net.step(obs[:, t], goal, z, state)
        np.testing.assert_allclose(q.numpy(), q_sequence[:, t].numpy(), atol=1e-5)


def test_explore_q_step_equals_sequence_and_ignores_future():
    rng = np.random.default_rng(1)
    net = ExploreQNetwork(BOUNDS, num_actions=7, field_dim=4, embed_hidden=8, embed_dim=8,
                          action_dim=4, lstm_units=8, hidden_dims=(16,))
    obs = random_obs(rng, (B, T))
    prev = np.concatenate([np.full((B, 1), 7), rng.integers(0, 7, (B, T - 1))], 1).astype(np.int32)
    q_sequence = net(obs, prev).numpy()
    state = net.initial_state(B)
    for t in range(T):
        q, state = net.step(obs[:, t], prev[:, t], state)
        np.testing.assert_allclose(q.numpy(), q_sequence[:, t], atol=1e-5)
    # Causality: changing the last observation leaves earlier Q-values unchanged.
    obs2 = obs.copy()
    obs2[:, -1] = (obs2[:, -1] + 1) % np.array(BOUNDS)
    np.testing.assert_allclose(net(obs2, prev).numpy()[:, :-1], q_sequence[:, :-1], atol=1e-6)


def test_q_torsos_follow_dreams_layers():
    rng = np.random.default_rng(2)
    obs = random_obs(rng, (B, T))
    # Execution: "Dense 256 relu -> Dense 64 -> dueling head": the last layer is linear, so
    # its features take negative values; with relu_output they cannot.
    for relu_output in (False, True):
        net = ExecuteQNetwork(BOUNDS, (5, 5), num_actions=7, field_dim=4, embed_hidden=8,
                              embed_dim=8, lstm_units=8, hidden_dims=(16, 8), relu_output=relu_output)
        goal, z = rng.integers(0, 5, (B, 2)).astype(np.int32), rng.normal(size=(B, 4)).astype(np.float32)
        net(obs, goal, z)
        h, _ = net.lstm(net._inputs(obs, goal))
        features = net.torso(tf.concat([h, tf.repeat(z[:, None], T, axis=1)], -1)).numpy()
        assert features.shape == (B, T, 8)
        assert (features.min() < 0) != relu_output
    # Exploration: "LSTM 64 -> dueling head": no layers between them by default.
    net = ExploreQNetwork(BOUNDS, num_actions=7, field_dim=4, embed_hidden=8, embed_dim=8,
                          action_dim=4, lstm_units=8)
    prev = np.zeros((B, T), np.int32)
    net(obs, prev)
    assert net.torso.dense_layers == []
    h, _ = net.lstm(net._inputs(obs, prev))
    np.testing.assert_allclose(net(obs, prev).numpy(), net.head(h).numpy(), atol=1e-6)


def test_decoder_predicts_every_prefix_and_the_empty_one_is_constant():
    rng = np.random.default_rng(2)
    decoder = TrajectoryDecoder(BOUNDS, num_actions=7, field_dim=4, embed_hidden=8, embed_dim=8,
                                action_dim=4, transition_dims=(16, 8), lstm_units=8,
                                output_hidden=(8,), z_dim=3)
    obs, actions = random_obs(rng, (B, T + 1)), rng.integers(0, 7, (B, T)).astype(np.int32)
    predictions = decoder(obs, actions).numpy()
    assert predictions.shape == (B, T + 1, 3)
    # Prefix 0 has seen nothing: the same prediction for every episode.
    np.testing.assert_allclose(predictions[0, 0], predictions[1, 0], atol=1e-6)
    assert not np.allclose(predictions[0, 1], predictions[1, 1])


def test_problem_encoder_shape():
    encoder = ProblemEncoder(num_problems=10, id_dim=4, z_dim=6)
    assert encoder(tf.constant([0, 9])).shape == (2, 6)
