"""The consumer's contract, ``assets/README.md``: written with every export from
``tf_metarl.export.format``, present in the shipped models, true to the real signatures,
and enough on its own: a fresh process that cannot import tf_metarl follows it to play
whole trials (its own bus-map world from the documented rules), embeds exploration
episodes unpadded and padded as documented, and plays exactly like tf_metarl's evaluator."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from export_helpers import REPO

from tf_metarl.export import format as fmt

SHIPPED = sorted(p.parent for p in (REPO / "saved_models").glob("*/saved_model.pb"))
NUM_CONSUMER_TRIALS = 48
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def _metadata(path: pathlib.Path) -> dict:
    return json.loads((path / "assets" / fmt.METADATA_ASSET).read_text())


def _documented_signatures(metadata) -> dict:
    """``format.signatures(metadata)`` with this policy's sizes: name -> (inputs, outputs), each
    {tensor name: (dtype, shape)}."""
    dims = fmt.signature_dims(metadata)

    def specs(entries):
        return {n: (t, tuple(d if isinstance(d, int) else dims[d] for d in s)) for n, t, s in entries}
    return {name: (specs(i), specs(o)) for name, (i, o) in fmt.signatures(metadata).items()}


def _actual_signatures(path) -> dict:
    import tensorflow as tf
    loaded = tf.saved_model.load(str(path))

    def specs(structure):
        return {k: (v.dtype.name, tuple(v.shape.as_list())) for k, v in structure.items()}
    return {name: (specs(f.structured_input_signature[1]), specs(f.structured_outputs))
            for name, f in loaded.signatures.items()}


# ---- shipped models ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_models_carry_the_contract_of_their_metadata(path):
    readme = path / "assets" / fmt.CONTRACT_ASSET
    assert readme.is_file(), f"{readme} is missing"
    assert readme.read_text() == fmt.contract_document(_metadata(path)), (
        f"{readme} is stale: regenerate it with tf_metarl.export.format.write_contract_document")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_signatures_are_the_documented_ones(path):
    metadata = _metadata(path)
    assert _actual_signatures(path) == _documented_signatures(metadata)
    text = (path / "assets" / fmt.CONTRACT_ASSET).read_text()
    if metadata.get("embed_exploration_checks_length", False):
        _assert_refuses_length_beyond_actions(path)
        assert fmt.LENGTH_ERROR in text and "does NOT detect it" not in text
    else:  # exported before the in-graph length check: the contract says so
        assert "does NOT detect it" in text and fmt.LENGTH_ERROR not in text


def test_the_loader_refuses_a_length_beyond_the_actions_given_even_for_old_models():
    from tf_metarl.export.policy import load_policy
    policy = load_policy(str(SHIPPED[0]))
    obs = np.array([[[4, 4, 0, 0], [4, 5, 1, 0], [0, 1, 1, 0]]], np.int32)
    actions = np.array([[1, 5]], np.int32)
    with pytest.raises(ValueError, match=r"embed_exploration: length exceeds actions.shape\[1\]"):
        policy.embed_exploration(obs, actions, [5])
    with pytest.raises(ValueError, match="is negative"):
        policy.embed_exploration(obs, actions, [-1])
    assert policy.embed_exploration(obs, actions, [2]).shape == (1, policy.embedding_size)


# ---- new exports -----------------------------------------------------------------------------------
def test_export_writes_the_contract_from_its_metadata(saved_model):
    metadata = _metadata(saved_model)
    readme = saved_model / "assets" / fmt.CONTRACT_ASSET
    assert readme.read_text() == fmt.contract_document(metadata)
    assert metadata["contract"] == "assets/README.md"
    assert metadata["pad_action"] == metadata["action_names"].index("noop") == 4
    assert metadata["no_action"] == metadata["num_actions"] == 7
    assert metadata["embed_exploration_checks_length"] is True
    assert metadata[fmt.METADATA_TAKES_INPUT] is True
    text = readme.read_text()
    assert "metadata(unused int32 [])" in text
    for line in ("- `no_action` = 7: the `prev_action` of the FIRST `explore_step`",
                 "- Padding action = 4 (noop)",
                 "0 <= `length[i]` <= T'",
                 f"This model checks it: the call fails with `InvalidArgumentError` whose "
                 f"message contains `{fmt.LENGTH_ERROR}`",
                 "`pc = perms(len(colored_stops))[mu % Pc]`",
                 "Here 53 train and 523 test problems"):
        assert line in text, line
    assert _actual_signatures(saved_model) == _documented_signatures(metadata)


def test_new_exports_refuse_a_length_beyond_the_actions_given(saved_model):
    """The reviewer's call: length 5 with 2 actions. It used to return another embedding."""
    _assert_refuses_length_beyond_actions(saved_model)


def test_nothing_reads_the_exploration_length_before_it_is_checked(agent_and_layout):
    """In a graph only data and control edges order ops: were the embedder to read
    ``length`` directly, a negative one could fail first in its ops (a gather at index -1)
    with an error that does not name the input. So the checks are the only readers of the
    raw input, besides the identity that passes it on once they have run."""
    from tf_metarl.export.exporter import PolicyModule
    agent, layout = agent_and_layout
    module = PolicyModule(agent, layout.horizon, len(layout.observation_bounds))
    graph = module.embed_exploration.get_concrete_function().graph
    (length,) = [t for t in graph.inputs if t.op.name == "length"]
    readers = length.consumers()
    passed_on = [op for op in readers if op.type == "Identity"]
    assert len(passed_on) == 1 and passed_on[0].control_inputs, [op.name for op in readers]
    # Waits for all four checks: horizon, one action fewer, length <= actions, length >= 0.
    assert [op.type for op in passed_on[0].control_inputs] == ["Assert"] * 4
    assert any(op.name.startswith("assert_non_negative/") for op in passed_on[0].control_inputs)
    assert all(op.name.startswith("assert_") for op in readers if op not in passed_on), \
        [op.name for op in readers]


def _assert_refuses_length_beyond_actions(path):
    import tensorflow as tf
    embed = tf.saved_model.load(str(path)).signatures["embed_exploration"]
    obs = tf.constant([[[4, 4, 0, 0], [4, 5, 1, 0], [0, 1, 1, 0]]], tf.int32)
    actions = tf.constant([[1, 5]], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"length exceeds actions.shape\[1\]"):
        embed(observations=obs, actions=actions, length=tf.constant([5], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative length"):
        embed(observations=obs, actions=actions, length=tf.constant([-1], tf.int32))
    padded = embed(observations=tf.concat([obs, tf.repeat(obs[:, -1:], 3, axis=1)], 1),
                   actions=tf.constant([[1, 5, 4, 4, 4]], tf.int32), length=tf.constant([2], tf.int32))
    unpadded = embed(observations=obs, actions=actions, length=tf.constant([2], tf.int32))
    np.testing.assert_allclose(padded["embedding"].numpy(), unpadded["embedding"].numpy(), **TOLERANCE)


# ---- a consumer without tf_metarl ----------------------------------------------------------------
# Written against assets/README.md and assets/metadata.json only; tf_metarl cannot be imported.
CONSUMER_SCRIPT = r"""
import itertools, json, re, sys

class NoTfMetarl:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tf_metarl":
            raise ImportError(f"{name}: the consumer has no tf_metarl")
        return None

sys.meta_path.insert(0, NoTfMetarl())
import numpy as np
import tensorflow as tf

path, trials_file, out_file = sys.argv[1:4]
meta = json.load(open(f"{path}/assets/metadata.json"))
doc = open(f"{path}/assets/README.md").read()
sig = tf.saved_model.load(path).signatures
lay, names, bounds = meta["layout"], meta["action_names"], meta["observation_bounds"]
T, A, NO_ACTION = meta["horizon"], meta["num_actions"], meta["no_action"]
PAD = int(re.search(r"Padding action = (\d+) ", doc).group(1))
assert "repeats the last real observation" in doc

# ---- the bus-map world, from the README's rules and metadata["layout"] ----
W, H, STEP_COST = lay["width"], lay["height"], lay["step_cost"]
perms = lambda n: list(itertools.permutations(range(n)))
Pc = len(perms(len(lay["colored_stops"])))
cell = lambda c: (int(c[0]), int(c[1]))
BUS_CELLS = {cell(c) for k in ("colored_stops", "colored_destinations", "gray_stops",
                               "gray_destinations") for c in lay[k]}
MAP = cell(lay["map_cell"]) if lay["map_cell"] is not None else None
GOALS = [cell(g) for g in lay["goals"]]
MOVES = {"left": (-1, 0), "up": (0, 1), "right": (1, 0), "down": (0, -1)}

def other_end(mu):
    pairs = [(cell(s), cell(lay["colored_destinations"][j]))
             for s, j in zip(lay["colored_stops"], perms(len(lay["colored_stops"]))[mu % Pc])]
    if lay["gray_stops"]:
        pairs += [(cell(s), cell(lay["gray_destinations"][j]))
                  for s, j in zip(lay["gray_stops"], perms(len(lay["gray_stops"]))[mu // Pc])]
    return {**dict(pairs), **{b: a for a, b in pairs}}

def observe(mu, c):
    o = [c[0], c[1], int(c in BUS_CELLS)]
    return o + [mu % Pc + 1 if c == MAP else 0] if MAP is not None else o

def move(mu, c, a):
    if names[a] in MOVES:
        dx, dy = MOVES[names[a]]
        return (min(max(c[0] + dx, 0), W - 1), min(max(c[1] + dy, 0), H - 1))
    return buses[mu].get(c, c) if names[a] == "ride_bus" else c

def env_step(mu, c, a, k, goal, execute):
    # step k (k steps taken before) of one trial -> (next cell, reward, episode over)
    nxt = move(mu, c, a)
    if names[a] == "end_episode":
        reward, over = (-STEP_COST * (lay["horizon"] - k) if execute else 0.0), True
    elif execute and nxt == goal:
        reward, over = 1.0, True
    elif execute:
        reward, over = -STEP_COST, bool(lay["terminate_on_any_goal"]) and nxt in GOALS
    else:
        reward, over = 0.0, False
    return nxt, reward, over or k + 1 == lay["horizon"]

trials = np.load(trials_file)
problems, goal_ids = [int(p) for p in trials["problems"]], [int(g) for g in trials["goals"]]
N = len(problems)
buses = {mu: other_end(mu) for mu in set(problems)}
i32 = lambda x: tf.constant(np.asarray(x), tf.int32)

# ---- one trial, as the README's steps 1-5 ----
s = sig["explore_initial_state"](batch_size=tf.constant(N, tf.int32))
cells, done, prev = [cell(lay["start"])] * N, [False] * N, [NO_ACTION] * N
obs = [[observe(mu, c)] for mu, c in zip(problems, cells)]
acts = [[] for _ in range(N)]
while not all(done):
    out = sig["explore_step"](observation=i32([observe(mu, c) for mu, c in zip(problems, cells)]),
                              prev_action=i32(prev), h=s["h"], c=s["c"])
    a = out["action"].numpy()
    for i in range(N):
        if not done[i]:
            cells[i], _, done[i] = env_step(problems[i], cells[i], a[i], len(acts[i]), None, False)
            acts[i].append(int(a[i]))
            obs[i].append(observe(problems[i], cells[i]))
    prev, s = a, out
L = np.array([len(x) for x in acts])

def embed(o, a, length):
    return sig["embed_exploration"](observations=i32(o), actions=i32(a),
                                    length=i32(length))["embedding"].numpy()

# Padded to T as documented: actions with PAD, the last observation repeated.
pad_obs = [o + [o[-1]] * (T - len(a)) for o, a in zip(obs, acts)]
pad_acts = [a + [PAD] * (T - len(a)) for a in acts]
# One trial per call: unpadded (T' = L), and padded.
z_unpadded = np.concatenate([embed([obs[i]], [acts[i]], [L[i]]) for i in range(N)])
z_padded_single = np.concatenate([embed([pad_obs[i]], [pad_acts[i]], [L[i]]) for i in range(N)])
# All trials in one call, padded (what execution uses).
z_padded = embed(pad_obs, pad_acts, L)
# Padded to a shorter common T' with arbitrary valid values.
rng = np.random.default_rng(0)
Tp = min(T, int(L.max()) + 2)
z_random = embed([o + rng.integers(0, bounds, size=(Tp - len(a), len(bounds))).tolist()
                  for o, a in zip(obs, acts)],
                 [a + rng.integers(0, A, size=Tp - len(a)).tolist() for a in acts], L)

s = sig["execute_initial_state"](batch_size=tf.constant(N, tf.int32))
goal = i32([GOALS[g] for g in goal_ids])
cells, done = [cell(lay["start"])] * N, [False] * N
steps, returns = [0] * N, np.zeros(N)
while not all(done):
    out = sig["execute_step"](observation=i32([observe(mu, c) for mu, c in zip(problems, cells)]),
                              goal=goal, embedding=tf.constant(z_padded, tf.float32),
                              h=s["h"], c=s["c"])
    a = out["action"].numpy()
    for i in range(N):
        if not done[i]:
            cells[i], reward, done[i] = env_step(problems[i], cells[i], a[i], steps[i],
                                                 GOALS[goal_ids[i]], True)
            returns[i] += reward
            steps[i] += 1
    s = out

# The documented world alone, driven by given actions (rides buses both ways, ends early).
replay = {}
for phase, execute in (("explore", False), ("execute", True)):
    r_obs = np.zeros((N, T + 1, len(bounds)), np.int64)
    r_rewards, r_length = np.zeros((N, T)), np.zeros(N, np.int64)
    for i, mu in enumerate(problems):
        c, k, over = cell(lay["start"]), 0, False
        r_obs[i, 0] = observe(mu, c)
        while not over:
            c, r_rewards[i, k], over = env_step(mu, c, int(trials[phase + "_actions"][i, k]), k,
                                                GOALS[goal_ids[i]], execute)
            k += 1
            r_obs[i, k] = observe(mu, c)
        r_obs[i, k + 1:], r_length[i] = r_obs[i, k], k
    replay.update({f"replay_{phase}_obs": r_obs, f"replay_{phase}_rewards": r_rewards,
                   f"replay_{phase}_length": r_length})

np.savez(out_file, z_unpadded=z_unpadded, z_padded_single=z_padded_single, z_padded=z_padded,
         z_random=z_random,
         explore_length=L, returns=returns, execute_length=np.array(steps), **replay)
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "tf_metarl")
assert not leaked, leaked
print("consumer ok", N, "trials")
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_a_consumer_following_only_the_contract_plays_like_tf_metarl(path, tmp_path):
    from tf_metarl.export import evaluation
    from tf_metarl.export.policy import load_policy

    policy = load_policy(str(path))
    layout = policy.training_layout()
    rng = np.random.default_rng(1)
    problems = rng.choice(layout.split_problem_ids(policy.metadata["eval_split"]), NUM_CONSUMER_TRIALS)
    goals = rng.integers(len(layout.goals), size=NUM_CONSUMER_TRIALS)
    # Random actions for the replay of the world alone: end_episode rarely, rides often.
    p = np.full(policy.num_actions, 1.0)
    p[policy.metadata["action_names"].index("end_episode")] = 0.1
    p[policy.metadata["action_names"].index("ride_bus")] = 2.0
    shape = (NUM_CONSUMER_TRIALS, policy.horizon)
    random_actions = {f"{phase}_actions": rng.choice(policy.num_actions, shape, p=p / p.sum())
                      for phase in ("explore", "execute")}
    np.savez(tmp_path / "trials.npz", problems=problems, goals=goals, **random_actions)
    result = subprocess.run(
        [sys.executable, "-c", CONSUMER_SCRIPT, str(path), str(tmp_path / "trials.npz"),
         str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"consumer ok {NUM_CONSUMER_TRIALS} trials" in result.stdout
    out = np.load(tmp_path / "out.npz")

    # Padding as documented (and with any valid values) embeds like no padding at all.
    assert (out["explore_length"] < policy.horizon).any()  # episodes that needed padding
    np.testing.assert_allclose(out["z_padded_single"], out["z_unpadded"], **TOLERANCE)
    np.testing.assert_allclose(out["z_random"], out["z_padded"], **TOLERANCE)
    # One call for all trials vs one per trial: float rounding of the batch only (the
    # gradient embedder's batched inner loop differs in the last bits of float32).
    np.testing.assert_allclose(out["z_padded"], out["z_unpadded"], rtol=1e-4, atol=1e-5)

    # The documented world and call order reproduce tf_metarl's evaluator, trial by trial.
    expected = evaluation.play_trials(policy, layout, problems, goals)
    np.testing.assert_array_equal(out["explore_length"], expected.explore_length)
    np.testing.assert_array_equal(out["execute_length"], expected.execute_length)
    np.testing.assert_allclose(out["returns"], expected.returns, atol=1e-5)

    # And the documented world is tf_metarl's, whatever the actions.
    from tf_metarl.envs.core import BatchedBusMap, Phase
    from tf_metarl.envs.episodes import run_episode
    env = BatchedBusMap(layout, NUM_CONSUMER_TRIALS)
    env.start_trials(problems, goals)
    for phase in (Phase.EXPLORE, Phase.EXECUTE):
        name = phase.name.lower()
        steps = iter(random_actions[f"{name}_actions"].T)
        episode = run_episode(env, phase, lambda obs, prev: next(steps))
        np.testing.assert_array_equal(out[f"replay_{name}_obs"], episode.obs)
        np.testing.assert_array_equal(out[f"replay_{name}_length"], episode.length)
        np.testing.assert_allclose(out[f"replay_{name}_rewards"], episode.rewards, atol=1e-6)
    rides = random_actions["explore_actions"] == policy.metadata["action_names"].index("ride_bus")
    assert rides.sum(axis=1).max() >= 2  # some trial rode at least twice (there and back, maybe)
