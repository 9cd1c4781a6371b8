"""The configuration of a training run: environment, agent and run loop, with presets.

``make_config(algorithm, env_preset, config_preset)`` gives the starting point that
launch scripts then edit with dotted overrides (``agent.learning_rate=3e-4``,
``run.total_env_steps=2e5``). The resolved config is written into every run folder as
``config.json`` and ``load_config`` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np

from tf_metarl import config as config_lib
from tf_metarl.config import ConfigError, check
from tf_metarl.envs.layout import PRESETS, BusMapLayout, LayoutError, load_layouts, preset_layout


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Which bus-map world to train on and evaluate on."""

    preset: str = "distracting_bus_map"  # named preset (see tf_metarl.envs.PRESETS)
    layout_file: str = ""  # optional JSON layout that replaces the preset
    train_split: str = "train"  # problems of meta-training trials
    eval_split: str = "test"  # problems of evaluation trials (held out from train_split's)

    def validate(self) -> None:
        check(self.preset in PRESETS, f"env.preset={self.preset!r}: expected one of {sorted(PRESETS)}")
        for name in ("train_split", "eval_split"):
            value = getattr(self, name)
            check(value in ("train", "test", "all"),
                  f"env.{name}={value!r}: expected 'train', 'test' or 'all'")

    def make_layout(self) -> BusMapLayout:
        if self.layout_file:
            layouts = load_layouts(self.layout_file)
            if len(layouts) != 1:
                raise LayoutError(f"env.layout_file={self.layout_file!r} holds {len(layouts)} layouts; "
                                  "training expects exactly one")
            return layouts[0]
        return preset_layout(self.preset)

    def evaluates_held_out(self, layout: BusMapLayout | None = None) -> bool:
        """True when no evaluation problem is a meta-training problem: not on ``map`` and
        ``small_map`` (no held-out split), nor when the splits overlap (e.g.
        ``train_split='all'``). ``layout`` defaults to ``make_layout()``."""
        layout = layout or self.make_layout()
        return not np.intersect1d(layout.split_problem_ids(self.eval_split),
                                  layout.split_problem_ids(self.train_split)).size

    def describe_eval_problems(self, layout: BusMapLayout | None = None) -> str:
        """The evaluation problems in words, e.g. 'held-out problems' or 'all problems
        (small_map has no held-out split)'; 'held-out' only when ``evaluates_held_out``."""
        layout = layout or self.make_layout()
        if self.evaluates_held_out(layout):
            return "held-out problems"
        if layout.has_held_out_split and self.eval_split not in ("all", self.train_split):
            return f"'{self.eval_split}' problems, trained on too (env.train_split={self.train_split!r})"
        return layout.describe_split(self.eval_split)

    def eval_return_name(self) -> str:
        """How reports name the evaluation return: 'held-out return' when
        ``evaluates_held_out``, else 'evaluation return' (also when the layout file can no
        longer be read: a report of an old run must not fail on it)."""
        try:
            return "held-out return" if self.evaluates_held_out() else "evaluation return"
        except LayoutError:
            return "evaluation return"


# Run fields that change how a run is shown, logged or stored, not what it learns: runs
# that differ only in these and their seed repeat one experiment.
BOOKKEEPING_RUN_FIELDS = ("progress_bar", "log_every_trials", "checkpoint_every_trials",
                          "max_checkpoints")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The training loop: budget, evaluation, logging and checkpoints."""

    seed: int = 0  # seeds network initialisation, trials, exploration and replay sampling
    num_envs: int = 16  # trials collected in parallel
    total_env_steps: int = 1_000_000  # exploration + execution steps of meta-training
    eval_every_trials: int = 2_000  # meta-training trials between evaluations
    eval_trials: int = 100  # eval_split trials per evaluation (epsilon 0, z from the decoder)
    log_every_trials: int = 500  # meta-training trials between train.csv rows
    checkpoint_every_trials: int = 2_000  # meta-training trials between checkpoints
    max_checkpoints: int = 2  # checkpoints kept on disk
    sequence_bucket: int = 5  # each kind of replayed episode is cut to the batch's longest, rounded up to this
    use_tf_function: bool = True  # False runs every step eagerly, for debugging
    intra_op_threads: int = 1  # TensorFlow threads per op
    inter_op_threads: int = 2  # TensorFlow ops run at once
    # Collect the next trials in a thread while the learners update, acting with a copy of
    # the weights from before the updates (a one-iteration lag). Reproducible, but a
    # different run from the sequential loop with the same seed. Faster only when the
    # updates leave cores idle: on 2 cores, only before the exploration learner starts.
    overlap_collection: bool = False
    progress_bar: bool = True  # tqdm progress bar on stderr

    def validate(self) -> None:
        for name in ("num_envs", "total_env_steps", "eval_every_trials", "eval_trials",
                     "log_every_trials", "checkpoint_every_trials", "max_checkpoints",
                     "sequence_bucket"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"run.{name}={value!r}: expected an integer >= 1")
        check(isinstance(self.seed, int) and self.seed >= 0, f"run.seed={self.seed!r}: expected an integer >= 0")
        for name in ("use_tf_function", "overlap_collection", "progress_bar"):
            value = getattr(self, name)
            check(isinstance(value, bool), f"run.{name}={value!r}: expected true or false")
        for name in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 0, f"run.{name}={value!r}: expected an integer >= 0 (0 = TensorFlow's default)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. ``agent`` is the algorithm's own config class."""

    algorithm: str
    agent: Any
    env: EnvConfig = EnvConfig()
    run: RunConfig = RunConfig()

    def validate(self) -> None:
        from tf_metarl.agents.registry import ALGORITHMS
        check(self.algorithm in ALGORITHMS,
              f"algorithm={self.algorithm!r}: expected one of {sorted(ALGORITHMS)}")
        expected = ALGORITHMS[self.algorithm].config_class
        check(type(self.agent) is expected,
              f"algorithm {self.algorithm!r} expects agent config {expected.__name__}, got {type(self.agent).__name__}")


CONFIG_PRESETS = ("tiny", "quick", "paper")


def make_config(algorithm: str = "dream", env_preset: str = "distracting_bus_map",
                config_preset: str = "paper") -> TrainConfig:
    """The starting config of ``algorithm`` on ``env_preset`` at size ``config_preset``.

    * ``paper``: the reference hyper-parameters (each agent config's defaults), 1 M env steps;
      on the 5x5 ``small_map`` exploration learning starts after 2,000 episodes, the value
      DREAM used for its 5x5 variant, instead of 8,000.
    * ``quick``: reference networks, a shorter schedule: a demo of a few minutes (agent
      configs with a ``quick_overrides`` classmethod, the baselines, give their own).
    * ``tiny``: tiny networks and budget, for tests (seconds).
    """
    from tf_metarl.agents.registry import ALGORITHMS
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algorithm!r}; expected one of {sorted(ALGORITHMS)}")
    if config_preset not in CONFIG_PRESETS:
        raise ConfigError(f"unknown config preset {config_preset!r}; expected one of {list(CONFIG_PRESETS)}")
    if env_preset not in PRESETS:
        raise ConfigError(f"unknown env preset {env_preset!r}; expected one of {sorted(PRESETS)}")
    agent_config = ALGORITHMS[algorithm].config_class()
    run = RunConfig()
    if config_preset == "paper" and env_preset == "small_map":
        if hasattr(agent_config, "explore_learning_starts"):  # DREAM's two learners
            agent_config = dataclasses.replace(agent_config, explore_learning_starts=2_000)
    elif config_preset == "quick":
        if hasattr(agent_config, "quick_overrides"):  # an agent config with its own
            agent_config = dataclasses.replace(agent_config, **agent_config.quick_overrides())
        else:
            agent_config = dataclasses.replace(
                agent_config, replay_capacity=4_000, target_update_period=1_000,
                epsilon_decay_steps=30_000, execute_learning_starts=100,
                explore_learning_starts=500, learning_rate=3e-4)
        run = dataclasses.replace(run, total_env_steps=60_000, eval_every_trials=500,
                                  log_every_trials=100, checkpoint_every_trials=500)
    elif config_preset == "tiny":
        agent_config = dataclasses.replace(agent_config, **agent_config.tiny_overrides())
        run = dataclasses.replace(run, num_envs=4, total_env_steps=600, eval_every_trials=24,
                                  eval_trials=8, log_every_trials=8, checkpoint_every_trials=16,
                                  sequence_bucket=64, progress_bar=False)
    return TrainConfig(algorithm=algorithm, agent=agent_config, env=EnvConfig(preset=env_preset),
                       run=run)


# Fields a launch flag sets; an override of one would contradict the flag (and the run
# folder named after it), so it is refused.
FLAG_FIELDS = {"algorithm": "--algorithm (sweep.py: --algorithms)",
               "env.preset": "--env_preset (sweep.py: --env_presets)",
               "run.seed": "--seed (sweep.py: --seeds)"}


def run_config(algorithm: str, env_preset: str, config_preset: str, seed: int,
               overrides: Sequence[str] = ()) -> TrainConfig:
    """The validated config of a run: a preset, its seed, then ``key.path=value`` overrides
    (what ``launch/train.py`` builds from its flags)."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key in FLAG_FIELDS:
            raise ConfigError(f"override {item!r}: set {key} with {FLAG_FIELDS[key]}, not "
                              "--override or --grid (runs are filed under that flag's value)")
    config = make_config(algorithm, env_preset, config_preset)
    config = config_lib.apply_overrides(config, [f"run.seed={seed}", *overrides])
    config_lib.validate_config(config)
    return config


def resume_conflicts(existing: TrainConfig, requested: TrainConfig) -> list[str]:
    """What keeps ``requested`` from continuing the run ``existing`` ('key.path: old -> new').

    The budget and the logging and checkpoint cadence may change on resume; the agent,
    the env, the seed, the number of parallel trials and overlapped collection may not."""
    fixed_run = dataclasses.replace(
        requested.run, seed=existing.run.seed, num_envs=existing.run.num_envs,
        overlap_collection=existing.run.overlap_collection)
    return config_lib.differences(dataclasses.replace(existing, run=fixed_run), requested)


def _with_earlier_defaults(agent: dict[str, Any]) -> dict[str, Any]:
    """A run's agent config written before a field existed describes the networks and
    optimizer of that time:

    * before ``explore_q_hidden`` and ``q_torso_relu_output``, the exploration Q-network had
      the execution network's ``q_hidden`` layers, and both had a ReLU on every layer;
    * before ``adam_epsilon``, Adam used Keras's default epsilon, 1e-7 (a written config
      holds every field, so one with ``learning_rate`` and no ``adam_epsilon`` predates it)."""
    agent = dict(agent)
    if "q_hidden" in agent and "explore_q_hidden" not in agent and "q_torso_relu_output" not in agent:
        agent.update(explore_q_hidden=agent["q_hidden"], q_torso_relu_output=True)
    if "learning_rate" in agent and "adam_epsilon" not in agent:
        agent["adam_epsilon"] = 1e-7
    return agent


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    from tf_metarl.agents.registry import ALGORITHMS
    algorithm = data.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"config algorithm={algorithm!r}: expected one of {sorted(ALGORITHMS)}")
    return TrainConfig(
        algorithm=algorithm,
        agent=config_lib.from_dict(ALGORITHMS[algorithm].config_class,
                                   _with_earlier_defaults(data.get("agent", {}))),
        env=config_lib.from_dict(EnvConfig, data.get("env", {})),
        run=config_lib.from_dict(RunConfig, data.get("run", {})))


def load_config(path: str) -> TrainConfig:
    """Reads a ``config.json`` written by a run (a file or a run folder)."""
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    if not os.path.isfile(path):
        raise ConfigError(f"no config file at {path!r}")
    with open(path) as f:
        config = config_from_dict(json.load(f))
    try:
        config_lib.check_field_types(config)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return config
