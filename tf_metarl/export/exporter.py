"""Exports a trained agent's explore/execute policies as one SavedModel.

``export_run(run_dir)`` rebuilds the agent from the run's ``config.json``, restores its
weights from a checkpoint and writes a SavedModel with the signatures of
``tf_metarl.export.format`` plus ``assets/metadata.json`` and ``assets/README.md`` (the
contract for consumers without tf_metarl, ``format.contract_document``).

The exported functions go only through the agent's public TensorFlow-level interface
(``explore_initial_state``, ``explore_step_tf``, ``embed_exploration_tf``,
``execute_initial_state``, ``execute_step_tf``), so a hybrid that overrides one of them
(e.g. adapting a dynamics model inside ``embed_exploration_tf``) exports unchanged.

Why the module tracks raw ``tf.Variable``s: Keras 3 variables wrap a ``tf.Variable``;
``tf.saved_model.load`` copes with a module holding Keras models, but the session-based
loader (``saved_model_cli run``, TF Serving) only restores variables that the object graph
reaches as ``tf.Variable``s. The module therefore holds no agent at all, only the list of
variables its traced signatures actually read. That also keeps optimizer slots, target
networks and the problem-ID encoder out of the export.
"""

from __future__ import annotations

import csv
import datetime
import glob
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf

from tf_metarl.envs.layout import NOOP
from tf_metarl.export import format as fmt
from tf_metarl.export.errors import ExportError, RunDirError, first_line
from tf_metarl.export.paths import check_run_dir

STATE_NAMES = ("h", "c")


def _state_spec(state, policy: str) -> tf.TensorSpec:
    """The [None, U] spec of h and c, from a batch-1 initial state (h, c)."""
    flat = tf.nest.flatten(state)
    if len(flat) != 2 or flat[0].shape != flat[1].shape or flat[0].shape.rank != 2:
        raise ExportError(f"{policy} policy: expected a recurrent state (h, c) of two [N, U] "
                          f"tensors, got {[tuple(t.shape) for t in flat]}")
    return tf.TensorSpec([None, int(flat[0].shape[1])], flat[0].dtype)


class PolicyModule(tf.Module):
    """The exported object: signatures as ``tf.function`` attributes, no agent attached.

    Args:
      agent: An agent with the public TF-level acting interface (see module docstring).
      horizon: Training horizon T; ``embed_exploration`` pads shorter episodes to it.
      num_fields: Observation fields F.

    Call ``set_metadata`` before ``concrete_signatures``.
    """

    def __init__(self, agent, horizon: int, num_fields: int):
        super().__init__(name="tf_metarl_policy")
        T, F = int(horizon), int(num_fields)
        explore_structure = agent.explore_initial_state(1)
        execute_structure = agent.execute_initial_state(1)
        explore_spec = _state_spec(explore_structure, "exploration")
        execute_spec = _state_spec(execute_structure, "execution")
        # Probe the embedding size eagerly, without relying on agent-specific attributes.
        z = agent.embed_exploration_tf(tf.zeros([1, T + 1, F], tf.int32), tf.zeros([1, T], tf.int32),
                                       tf.zeros([1], tf.int32))
        self.embedding_size = int(z.shape[-1])
        self.state_sizes = {"explore": int(explore_spec.shape[1]),
                            "execute": int(execute_spec.shape[1])}

        def spec(shape, dtype, name):
            return tf.TensorSpec(shape, dtype, name=name)

        def state_out(state):
            h, c = tf.nest.flatten(state)
            return {"h": h, "c": c}

        def step_out(q, state):
            return {"action": tf.argmax(q, axis=-1, output_type=tf.int32), "q_values": q,
                    **state_out(state)}

        batch_size = spec([], tf.int32, "batch_size")
        observation = spec([None, F], tf.int32, "observation")

        @tf.function(input_signature=[batch_size])
        def explore_initial_state(batch_size):
            return state_out(agent.explore_initial_state(batch_size))

        @tf.function(input_signature=[batch_size])
        def execute_initial_state(batch_size):
            return state_out(agent.execute_initial_state(batch_size))

        @tf.function(input_signature=[observation, spec([None], tf.int32, "prev_action"),
                                      spec(explore_spec.shape, explore_spec.dtype, "h"),
                                      spec(explore_spec.shape, explore_spec.dtype, "c")])
        def explore_step(observation, prev_action, h, c):
            state = tf.nest.pack_sequence_as(explore_structure, [h, c])
            return step_out(*agent.explore_step_tf(observation, prev_action, state))

        @tf.function(input_signature=[observation, spec([None, 2], tf.int32, "goal"),
                                      spec([None, self.embedding_size], tf.float32, "embedding"),
                                      spec(execute_spec.shape, execute_spec.dtype, "h"),
                                      spec(execute_spec.shape, execute_spec.dtype, "c")])
        def execute_step(observation, goal, embedding, h, c):
            state = tf.nest.pack_sequence_as(execute_structure, [h, c])
            return step_out(*agent.execute_step_tf(observation, goal, embedding, state))

        @tf.function(input_signature=[spec([None, None, F], tf.int32, "observations"),
                                      spec([None, None], tf.int32, "actions"),
                                      spec([None], tf.int32, "length")])
        def embed_exploration(observations, actions, length):
            observations, actions, length = _pad_episode(observations, actions, length, T)
            return {"embedding": agent.embed_exploration_tf(observations, actions, length)}

        self.explore_initial_state = explore_initial_state
        self.explore_step = explore_step
        self.embed_exploration = embed_exploration
        self.execute_initial_state = execute_initial_state
        self.execute_step = execute_step

    def set_metadata(self, metadata_json: str) -> None:
        """Adds the ``metadata`` signature returning ``metadata_json``."""
        name, dtype, shape = fmt.METADATA_INPUT
        # An ignored input: TF Serving refuses to call a signature without inputs.
        self.metadata = tf.function(
            lambda unused: {fmt.METADATA_OUTPUT: tf.constant(metadata_json)},
            input_signature=[tf.TensorSpec(shape, getattr(tf, dtype), name=name)])

    def concrete_signatures(self) -> dict[str, Any]:
        """Traces every signature; name -> concrete function."""
        names = fmt.POLICY_SIGNATURES + (fmt.METADATA_SIGNATURE,)
        return {name: getattr(self, name).get_concrete_function() for name in names}


def _pad_episode(observations, actions, length, horizon: int):
    """Pads an episode to the training horizon: observations to [N, T+1, F] by repeating
    the last one, actions to [N, T] with noop, as collection pads finished episodes.

    Causal embedders read the first ``length`` steps only, so the padding's values never
    change the result; it gives the embedder the static time dimension its unrolled
    recurrence needs. Hence the check ``0 <= length <= actions.shape[1]``: a longer length
    would read this padding (steps the caller never gave) without any error.

    Returns the padded episode and ``length``, all three computed after the checks: in a
    graph nothing else orders them, and an op reading a bad length (a gather at index -1)
    could fail first with an error that does not name the input.
    """
    steps = tf.shape(observations)[1]
    checks = [
        tf.debugging.assert_less_equal(
            steps, horizon + 1, message=f"embed_exploration: more than horizon+1 = {horizon + 1} observations"),
        tf.debugging.assert_equal(tf.shape(actions)[1], steps - 1,
                                  message="embed_exploration: expected one action fewer than observations"),
        tf.debugging.assert_less_equal(
            length, tf.shape(actions)[1],
            message=f"{fmt.LENGTH_ERROR} (length counts the actions given, at most T')"),
        tf.debugging.assert_non_negative(length, message="embed_exploration: negative length"),
    ]
    with tf.control_dependencies(checks):
        observations, actions, length = (tf.identity(observations), tf.identity(actions),
                                         tf.identity(length))
    last = observations[:, -1:]
    observations = tf.concat([observations, tf.repeat(last, horizon + 1 - steps, axis=1)], axis=1)
    pad = tf.fill([tf.shape(actions)[0], horizon + 1 - steps], tf.constant(NOOP, tf.int32))
    actions = tf.concat([actions, pad], axis=1)
    observations = tf.ensure_shape(observations, [None, horizon + 1, observations.shape[-1]])
    actions = tf.ensure_shape(actions, [None, horizon])
    return observations, actions, length


def check_output_dir(output_dir: str, overwrite: bool) -> None:
    if os.path.isfile(output_dir):
        raise ExportError(f"output path {output_dir!r} is a file; expected a folder")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ExportError(f"output folder {output_dir!r} already exists and is not empty "
                          "(pass overwrite=True / --overwrite to replace it)")


def _variables_read(concrete_functions) -> list[tf.Variable]:
    """The distinct variables the traced functions read (raw tf.Variables, not Keras')."""
    seen, out = set(), []
    for cf in concrete_functions:
        for v in cf.variables:
            if v.ref() not in seen:
                seen.add(v.ref())
                out.append(v)
    return out


def export_agent(agent, layout, output_dir: str, metadata: dict[str, Any],
                 overwrite: bool = False) -> dict[str, Any]:
    """Writes ``agent``'s policies for ``layout`` to ``output_dir`` as a SavedModel.

    ``metadata`` is completed with the layout-derived fields (observation fields and
    bounds, actions, horizon, embedding and state sizes, format version) and returned.
    Next to ``assets/metadata.json`` goes ``assets/README.md``, the consumer's contract
    (``format.contract_document``).
    The SavedModel is written to a temporary sibling folder and then moved into place,
    so a failed export never leaves a half-written model behind.
    """
    output_dir = os.path.abspath(output_dir)
    check_output_dir(output_dir, overwrite)
    F = len(layout.observation_bounds)
    metadata = dict(metadata)
    # Agent-specific keys (the baselines: what their embedding and states hold).
    metadata.update(getattr(agent, "export_metadata", dict)())
    module = PolicyModule(agent, layout.horizon, F)
    metadata.update(
        format_version=fmt.FORMAT_VERSION,
        layout=layout.to_dict(),
        observation_fields=list(layout.observation_fields),
        observation_bounds=[int(b) for b in layout.observation_bounds],
        goal_bounds=[int(b) for b in layout.goal_bounds],
        action_names=list(layout.action_names),
        num_actions=int(layout.num_actions),
        no_action=int(layout.num_actions),
        pad_action=NOOP,
        embed_exploration_checks_length=True,
        **{fmt.METADATA_TAKES_INPUT: True},
        contract=f"assets/{fmt.CONTRACT_ASSET}",
        horizon=int(layout.horizon),
        embedding_size=module.embedding_size,
        state_names=list(STATE_NAMES),
        state_sizes=module.state_sizes,
        signatures=list(fmt.POLICY_SIGNATURES) + [fmt.METADATA_SIGNATURE],
        exported_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        tensorflow_version=tf.__version__,
    )
    text = json.dumps(_jsonable(metadata), indent=2, sort_keys=True)
    module.set_metadata(text)
    signatures = module.concrete_signatures()
    module.policy_variables = _variables_read(signatures.values())

    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        asset_dir = tempfile.mkdtemp(prefix=".metadata-", dir=parent)
        asset_path = os.path.join(asset_dir, fmt.METADATA_ASSET)
        with open(asset_path, "w") as f:
            f.write(text + "\n")
        module.metadata_file = tf.saved_model.Asset(asset_path)
        try:
            tf.saved_model.save(module, staging, signatures=signatures)
        except (ValueError, AssertionError) as e:  # e.g. an untracked resource in a signature
            raise ExportError(f"could not save the policy SavedModel: {first_line(e)}") from e
        finally:
            shutil.rmtree(asset_dir, ignore_errors=True)
        # The consumer's contract, next to metadata.json (a plain file: no graph change).
        fmt.write_contract_document(staging, json.loads(text))
        if os.path.exists(output_dir):
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return metadata


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---- run folders ---------------------------------------------------------------------------------
def find_checkpoint(run_dir: str, checkpoint: str | None = None) -> str:
    """The checkpoint prefix to export: ``checkpoint`` (a prefix like ``.../ckpt-20`` or a
    folder holding checkpoints) or the run's latest one."""
    check_run_dir(run_dir, checkpoint)
    if checkpoint and not os.path.isdir(checkpoint):
        return checkpoint
    folder = checkpoint or os.path.join(run_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(folder)
    if latest is None:  # index files but no 'checkpoint' state file: take the newest
        latest = max(glob.glob(os.path.join(folder, "*.index")), key=os.path.getmtime)[:-len(".index")]
    return latest


def _read_csv(path: str) -> list[dict[str, str]]:
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) else value


def training_progress(run_dir: str, checkpoint: str) -> dict[str, Any]:
    """Training counters at ``checkpoint`` and the last evaluation logged by then.

    The counters come from the checkpoint's loop state when it has one (so an older
    checkpoint reports its own progress), else from the last train.csv row.
    """
    out: dict[str, Any] = {"checkpoint": os.path.basename(checkpoint)}
    loop = None
    try:
        reader = tf.train.load_checkpoint(checkpoint)
        key = "loop/.ATTRIBUTES/py_state"
        if reader.has_tensor(key):
            loop = json.loads(reader.get_tensor(key)).get("loop")
    except (tf.errors.OpError, ValueError, json.JSONDecodeError):
        loop = None
    if loop:
        out["source"] = "checkpoint loop state"
        for key in ("trials", "env_steps", "explore_steps", "execute_steps", "wall_time"):
            if key in loop:
                out[key] = loop[key]
    else:
        rows = _read_csv(os.path.join(run_dir, "train.csv"))
        if rows:
            out["source"] = "train.csv"
            for key in ("trials", "env_steps", "explore_steps", "execute_steps", "wall_time"):
                if key in rows[-1]:
                    out[key] = _number(rows[-1][key])
    evals = _read_csv(os.path.join(run_dir, "eval.csv"))
    if "trials" in out:
        evals = [r for r in evals if float(r.get("trials", "inf")) <= out["trials"]]
    if evals:
        out["last_eval"] = {k: _number(v) for k, v in evals[-1].items()}
        out["last_eval_return"] = out["last_eval"].get("eval_return")
    else:
        out["last_eval_return"] = None
    return out


def export_run(run_dir: str, output_dir: str | None = None, checkpoint: str | None = None,
               overwrite: bool = False) -> tuple[str, dict[str, Any]]:
    """Exports the policies of a training run folder; returns (SavedModel path, metadata).

    ``output_dir`` defaults to ``saved_models/<run folder name>``.
    """
    from tf_metarl import config as config_lib
    from tf_metarl.envs.layout import LayoutError
    from tf_metarl.training.config import load_config
    from tf_metarl.training.runner import make_agent

    run_dir = os.path.normpath(run_dir)
    check_run_dir(run_dir, checkpoint)
    if output_dir is None:
        output_dir = os.path.join("saved_models", os.path.basename(os.path.abspath(run_dir)))
    check_output_dir(output_dir, overwrite)
    try:
        config = load_config(run_dir)
        layout = config.env.make_layout()
    except (config_lib.ConfigError, LayoutError, TypeError, json.JSONDecodeError) as e:
        raise RunDirError(f"run folder {run_dir!r}: cannot rebuild its config: {e}") from None
    path = find_checkpoint(run_dir, checkpoint)

    agent = make_agent(config, layout)
    try:
        status = tf.train.Checkpoint(agent=agent).restore(path).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise RunDirError(f"checkpoint {path!r} does not match the agent of {run_dir!r}: "
                          f"{first_line(e)}") from None

    progress = training_progress(run_dir, path)
    metadata = {
        "algorithm": config.algorithm,
        "env_preset": config.env.preset,
        "env_layout_file": config.env.layout_file,
        "train_split": config.env.train_split,
        "eval_split": config.env.eval_split,
        "training": progress,
        "training_env_steps": progress.get("env_steps"),
        "training_trials": progress.get("trials"),
        "last_eval_return": progress.get("last_eval_return"),
        "run_dir": os.path.abspath(run_dir),
        "config": config_lib.to_dict(config),
    }
    metadata = export_agent(agent, layout, output_dir, metadata, overwrite=overwrite)
    return os.path.abspath(output_dir), metadata
