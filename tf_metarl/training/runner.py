"""The training runner: collect, replay, update, evaluate, log, checkpoint, resume.

Layers, from the bottom: ``play_trials`` plays N trials; ``Runner.collect`` adds them to
replay and counts the updates they are owed; ``Runner.update`` runs those updates;
``Runner.run`` loops collect-and-update iterations until the env-step budget, evaluating,
logging and checkpointing on its schedule. With ``run.overlap_collection`` the next trials
are played in a thread while the updates run, by an actor holding a copy of the weights.

Two learner layouts: DREAM and its hybrids have an exploration and an execution learner,
each with its own replay, epsilon schedule and updates owed. An agent declaring
``single_learner = True`` (DREAM's baselines) has one: one replay of whole trials, one
epsilon over the env steps of both episodes, one update per ``update_period`` env steps
once ``learning_starts`` trials are stored, ``train_step(batch)`` on whole trials; its
train.csv logs ``epsilon`` and ``updates`` instead of the per-learner columns.

A run folder holds:
  config.json        the resolved config (a run can be reproduced from its folder)
  train.csv          meta-training statistics every ``run.log_every_trials`` trials
  eval.csv           evaluations (``env.eval_split``, held out by default) every ``run.eval_every_trials`` trials;
                     beside eval_return: eval_informed_return, the mean best execution return
                     knowing only what each exploration episode revealed (``oracle.informed_returns``),
                     eval_explore_gap = optimal_return - it (the explorer's shortfall) and
                     eval_execute_gap = it - eval_return (the executor's)
  tensorboard/       the same scalars as TensorBoard events
  checkpoints/       networks, optimizers, targets, counters, RNG states and replay
  summary.json       the final evaluation and the source versions (git commits) that
                     trained the run, written when the run completes
  training.lock      locked while a runner trains here (``run_lock``): a second one refuses

A run resumes from its latest complete checkpoint when its folder has one; rows and
TensorBoard events logged after that checkpoint are dropped, so nothing is counted twice.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tf_metarl import config as config_lib
from tf_metarl.envs import oracle
from tf_metarl.envs.core import BatchedBusMap, sample_trials
from tf_metarl.training.collection import TrialBatch, play_trials
from tf_metarl.training.config import TrainConfig, load_config, resume_conflicts
from tf_metarl.training.logging import CsvLog, drop_events_after
from tf_metarl.training.provenance import source_version
from tf_metarl.training.run_lock import RunLock
from tf_metarl.training.schedules import linear_epsilon
from tf_metarl.training.seeding import configure_threads, seed_everything
from tf_metarl.replay import EpisodeReplay


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the run stopped without checkpointing it."""


class RunFolderError(ValueError):
    """The run folder holds a different run."""


# What a run folder may hold before its config.json is written: a killed run's first files,
# and the log a sweep opens before it starts the run.
_RUN_FOLDER_ENTRIES = frozenset({"config.json.tmp", "train.csv", "eval.csv", "tensorboard",
                                 "checkpoints", "training.lock", "sweep.log"})


def _remove_if_present(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _check_not_foreign(root_dir: str) -> None:
    """Refuses an existing folder that holds no run but other files (``--root_dir=.``)."""
    if not os.path.isdir(root_dir) or os.path.exists(os.path.join(root_dir, "config.json")):
        return
    foreign = sorted(set(os.listdir(root_dir)) - _RUN_FOLDER_ENTRIES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise RunFolderError(f"run folder {root_dir!r} holds no run (no config.json) but other "
                             f"files ({shown}); choose a new or empty folder")


class _PythonState(tf.train.experimental.PythonState):
    """Checkpoints Python-side state through ``get_state`` / ``set_state`` callbacks."""

    def __init__(self, get_state, set_state):
        self._get_state, self._set_state = get_state, set_state

    def serialize(self):
        return self._get_state()

    def deserialize(self, string_value):
        self._set_state(string_value)


@dataclasses.dataclass
class LoopState:
    """Counters of the training loop (checkpointed)."""
    trials: int = 0
    env_steps: int = 0
    explore_steps: int = 0
    execute_steps: int = 0
    explore_updates_owed: float = 0.0
    execute_updates_owed: float = 0.0
    updates_owed: float = 0.0  # single-learner agents (the baselines)
    wall_time: float = 0.0
    last_log_trials: int = 0
    last_eval_trials: int = 0
    last_checkpoint_trials: int = 0
    # The source versions (provenance.source_version) that trained this run, in order; a
    # run resumed by other code lists both.
    source_versions: list[str] = dataclasses.field(default_factory=list)


def make_agent(config: TrainConfig, layout, seed: int | None = None):
    """The agent of ``config``; ``seed`` (default ``run.seed``) seeds its own noise."""
    from tf_metarl.agents.registry import ALGORITHMS
    algorithm = ALGORITHMS[config.algorithm]
    return algorithm.agent_class(config.agent, layout,
                                 seed=config.run.seed if seed is None else seed,
                                 use_tf_function=config.run.use_tf_function)


def _replay_spec(horizon: int, num_fields: int, kind: str):
    T, F = horizon, num_fields
    if kind == "execute_with_trial_exploration":  # + the same trial's exploration episode
        return {**_replay_spec(T, F, "execute"),
                **{f"trial_{k}": v for k, v in _replay_spec(T, F, "explore").items()
                   if k != "x_problem_id"}}
    if kind == "explore":
        return {"x_obs": ((T + 1, F), np.int16), "x_actions": ((T,), np.int8),
                "x_length": ((), np.int16), "x_problem_id": ((), np.int32)}
    return {"obs": ((T + 1, F), np.int16), "goal": ((2,), np.int16), "actions": ((T,), np.int8),
            "rewards": ((T,), np.float32), "length": ((), np.int16), "problem_id": ((), np.int32)}


def cut_to_length(batch: dict[str, np.ndarray], prefix: str, length: int) -> None:
    """Cuts the padded episodes ``<prefix>obs/actions/rewards`` of a replay batch to
    ``length`` steps, in place (observations keep one more)."""
    batch[f"{prefix}obs"] = batch[f"{prefix}obs"][:, : length + 1]
    batch[f"{prefix}actions"] = batch[f"{prefix}actions"][:, :length]
    if f"{prefix}rewards" in batch:
        batch[f"{prefix}rewards"] = batch[f"{prefix}rewards"][:, :length]


class Runner:
    """Trains one agent in one run folder.

    Args:
      config: The run's config (validated here).
      root_dir: The run folder; created if missing. If it holds a run already, its
        config must match ``config`` (apart from the run budget) and training resumes.
    """

    def __init__(self, config: TrainConfig, root_dir: str):
        config_lib.validate_config(config)
        self.config = config
        self.root_dir = root_dir
        # The layout can still be refused (its file); that must not leave a run folder
        # whose config.json would then refuse the corrected command.
        self.layout = config.env.make_layout()
        self.train_problems = self.layout.split_problem_ids(config.env.train_split)
        self.eval_problems = self.layout.split_problem_ids(config.env.eval_split)
        _check_not_foreign(root_dir)
        os.makedirs(root_dir, exist_ok=True)
        self.lock = RunLock(root_dir)
        self.lock.acquire()
        try:
            self._setup()
        except BaseException:
            self.lock.release()
            raise

    def _setup(self) -> None:
        config, root_dir, run = self.config, self.root_dir, self.config.run
        self._check_or_write_config()
        configure_threads(run.intra_op_threads, run.inter_op_threads)
        self.rng = seed_everything(run.seed)
        self.agent = make_agent(config, self.layout)
        if run.overlap_collection:
            # The actor plays the next trials while the learner updates, so it needs its
            # own weights (copied before each round of updates) and its own random streams.
            # Built from the same initialiser seed, it starts as an exact copy.
            seed_everything(run.seed)
            self.actor = make_agent(config, self.layout, seed=_ACTOR_SEED_OFFSET + run.seed)
            self.collect_rng = np.random.default_rng([run.seed, 2])
            self._actor_weights = _matching_variables(self.agent, self.actor)
        else:
            self.actor, self.collect_rng = self.agent, self.rng
        self.env = BatchedBusMap(self.layout, run.num_envs)
        self.eval_env = BatchedBusMap(self.layout, run.eval_trials)
        # Held-out evaluation trials are fixed for the whole run, so evaluations compare.
        self.eval_problem_ids, self.eval_goal_ids = sample_trials(
            np.random.default_rng([run.seed, 1]), self.eval_problems, len(self.layout.goals),
            run.eval_trials)
        capacity = config.agent.replay_capacity
        F = len(self.layout.observation_bounds)
        # A single-learner agent (``agent.single_learner``) learns from one replay of whole
        # trials; DREAM and its hybrids have an exploration and an execution replay.
        self.single_learner = bool(getattr(self.agent, "single_learner", False))
        execute_kind = ("execute_with_trial_exploration"
                        if getattr(self.agent, "replay_trial_exploration", False) else "execute")
        self.execute_replay = EpisodeReplay(capacity, _replay_spec(self.layout.horizon, F, execute_kind))
        if self.single_learner:
            self.explore_replay = None
            replays = {"replay": _PythonState(self.execute_replay.get_state,
                                              self.execute_replay.set_state)}
        else:
            self.explore_replay = EpisodeReplay(capacity, _replay_spec(self.layout.horizon, F, "explore"))
            replays = {
                "explore_replay": _PythonState(self.explore_replay.get_state, self.explore_replay.set_state),
                "execute_replay": _PythonState(self.execute_replay.get_state, self.execute_replay.set_state)}
        self.state = LoopState()
        self.checkpoint = tf.train.Checkpoint(
            agent=self.agent, **replays,
            loop=_PythonState(self._get_loop_state, self._set_loop_state),
            **({"actor_noise": self.actor.noise_rng} if run.overlap_collection else {}))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(root_dir, "checkpoints"), max_to_keep=run.max_checkpoints)
        self.train_log = CsvLog(os.path.join(root_dir, "train.csv"))
        self.eval_log = CsvLog(os.path.join(root_dir, "eval.csv"))
        self.resumed_from = None
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            self.resumed_from = self.manager.latest_checkpoint
        if source_version() not in self.state.source_versions:
            self.state.source_versions.append(source_version())
        # Rows and events logged after the checkpoint (or by a run killed before its first
        # one) are logged again by this run.
        if self.state.env_steps < run.total_env_steps:
            # A finished run given a larger budget is unfinished again until it reaches it.
            _remove_if_present(os.path.join(root_dir, "summary.json"))
        self.train_log.drop_rows_after("trials", self.state.trials)
        self.eval_log.drop_rows_after("trials", self.state.trials)
        tensorboard_dir = os.path.join(root_dir, "tensorboard")
        drop_events_after(tensorboard_dir, self.state.env_steps)
        self.writer = tf.summary.create_file_writer(tensorboard_dir)
        self._window = _Window()

    # ---- run folder ---------------------------------------------------------------------
    def _check_or_write_config(self) -> None:
        path = os.path.join(self.root_dir, "config.json")
        if os.path.exists(path):
            changed = resume_conflicts(load_config(path), self.config)
            if changed:
                raise RunFolderError(
                    f"run folder {self.root_dir!r} holds a run with a different config "
                    f"({'; '.join(changed)}); use a new --root_dir or the same flags as that run")
        with open(path + ".tmp", "w") as f:
            f.write(config_lib.to_json(self.config))
        os.replace(path + ".tmp", path)

    def _get_loop_state(self) -> bytes:
        data = {"loop": dataclasses.asdict(self.state), "rng": self.rng.bit_generator.state}
        if self.collect_rng is not self.rng:
            data["collect_rng"] = self.collect_rng.bit_generator.state
        return json.dumps(data).encode()

    def _set_loop_state(self, value: bytes) -> None:
        data = json.loads(value)
        self.state = LoopState(**data["loop"])
        self.rng.bit_generator.state = data["rng"]
        if self.collect_rng is not self.rng:
            self.collect_rng.bit_generator.state = data["collect_rng"]

    # ---- one iteration --------------------------------------------------------------------
    def epsilons(self) -> tuple[float, float]:
        """(exploration, execution) epsilon; a single learner's one epsilon decays over the
        env steps of both episodes."""
        c = self.config.agent
        if self.single_learner:
            epsilon = linear_epsilon(self.state.env_steps, c.epsilon_start, c.epsilon_end,
                                     c.epsilon_decay_steps)
            return epsilon, epsilon
        return (linear_epsilon(self.state.explore_steps, c.epsilon_start, c.epsilon_end, c.epsilon_decay_steps),
                linear_epsilon(self.state.execute_steps, c.epsilon_start, c.epsilon_end, c.epsilon_decay_steps))

    def _use_decoder(self, n: int) -> np.ndarray:
        mode = getattr(self.config.agent, "train_conditioning", "alternate")
        if mode == "decoder":
            return np.ones(n, dtype=bool)
        if mode == "encoder":
            return np.zeros(n, dtype=bool)
        return (self.state.trials + np.arange(n)) % 2 == 0  # even trials: the decoder's z

    def _play(self, epsilons: tuple[float, float], use_decoder: np.ndarray) -> TrialBatch:
        """The actor plays the next N meta-training trials (touches no replay or counter)."""
        n = self.env.num_envs
        problems, goals = sample_trials(self.collect_rng, self.train_problems,
                                        len(self.layout.goals), n)
        return play_trials(self.actor, self.env, problems, goals, self.collect_rng, *epsilons,
                           use_decoder)

    def _add(self, batch: TrialBatch) -> None:
        """Stores played trials and counts their steps and the updates they are owed."""
        if self.explore_replay is not None:
            self.explore_replay.add(batch.explore_episodes())
        # Fields the execution replay does not declare are ignored by ``add``.
        self.execute_replay.add({**batch.execute_episodes(),
                                 **{f"trial_{k}": v for k, v in batch.explore_episodes().items()}})
        s, c = self.state, self.config.agent
        s.trials += len(batch.returns)
        s.explore_steps += int(batch.x_length.sum())
        s.execute_steps += int(batch.length.sum())
        s.env_steps = s.explore_steps + s.execute_steps
        if self.single_learner:
            if len(self.execute_replay) >= c.learning_starts:
                s.updates_owed += batch.env_steps / c.update_period
            return
        if len(self.execute_replay) >= c.execute_learning_starts:
            s.execute_updates_owed += batch.length.sum() / c.update_period
        if len(self.explore_replay) >= c.explore_learning_starts:
            s.explore_updates_owed += batch.x_length.sum() / c.update_period

    def collect(self) -> TrialBatch:
        """Plays N meta-training trials and adds them to replay."""
        batch = self._play(self.epsilons(), self._use_decoder(self.env.num_envs))
        self._add(batch)
        return batch

    def _collect_while_updating(self, collector: concurrent.futures.Executor) -> TrialBatch:
        """``update`` overlapped with the actor playing the next trials. The actor acts
        with the weights from before the updates, and the trials reach replay after them,
        so the result does not depend on thread timing."""
        for target, source in self._actor_weights:
            target.assign(source)
        pending = collector.submit(self._play, self.epsilons(),
                                   self._use_decoder(self.env.num_envs))
        self.update()
        batch = pending.result()
        self._add(batch)
        return batch

    def _sample(self, execute: bool) -> dict[str, np.ndarray]:
        """A replay batch: exploration episodes (x_*), and execution episodes when
        ``execute`` (with their trials' exploration episodes, trial_x_*, if stored).

        Each kind of episode is cut to its longest member, rounded up to
        ``run.sequence_bucket`` steps: padding is masked out of every loss, so the cut
        changes no result, only the cost of the unrolled networks. Exploration episodes
        (x_* and trial_x_*) share one cut, execution episodes have their own."""
        c, bucket = self.config.agent, self.config.run.sequence_bucket
        horizon = self.layout.horizon

        def cut_length(longest):
            return int(min(horizon, max(bucket, math.ceil(longest / bucket) * bucket)))

        if self.single_learner:  # whole trials: execution episodes with their exploration
            batch = self.execute_replay.sample(self.rng, c.batch_size)
            cut_to_length(batch, "trial_x_", cut_length(batch["trial_x_length"].max()))
            cut_to_length(batch, "", cut_length(batch["length"].max()))
            return batch
        batch = self.explore_replay.sample(self.rng, c.batch_size)
        if execute:
            batch.update(self.execute_replay.sample(self.rng, c.batch_size))
        explore_length = cut_length(max(batch[f"{p}length"].max() for p in ("x_", "trial_x_")
                                        if f"{p}length" in batch))
        cut_to_length(batch, "x_", explore_length)
        if "trial_x_obs" in batch:
            cut_to_length(batch, "trial_x_", explore_length)
        if execute:
            cut_to_length(batch, "", cut_length(batch["length"].max()))
        return batch

    def _sample_tensors(self, execute: bool) -> dict[str, tf.Tensor]:
        return {k: tf.convert_to_tensor(v) for k, v in self._sample(execute).items()}

    def update(self) -> None:
        """Runs the updates owed for the env steps collected so far (one per update_period).

        The next update's replay batch is sampled and converted in a background thread
        while the current update runs (TensorFlow releases the GIL). Only that thread
        draws from the run's generator during updates, in plan order, so runs stay
        reproducible."""
        s = self.state
        if self.single_learner:
            n = int(s.updates_owed)
            s.updates_owed -= n
            plan = [(True, True)] * n
        else:
            plan = self._two_learner_plan()
        if not plan:
            return
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="replay") as prefetch:
            pending = prefetch.submit(self._sample_tensors, plan[0][0])
            for i, (execute, explore) in enumerate(plan):
                replay_batch = pending.result()
                if i + 1 < len(plan):
                    pending = prefetch.submit(self._sample_tensors, plan[i + 1][0])
                if self.single_learner:
                    metrics = self.agent.train_step(replay_batch)
                else:
                    metrics = self.agent.train_step(replay_batch, execute=execute, explore=explore)
                self._window.add_metrics(metrics)

    def _two_learner_plan(self) -> list[tuple[bool, bool]]:
        """(execute, explore) per owed update: both learners together while both are owed."""
        s = self.state
        n_execute, n_explore = int(s.execute_updates_owed), int(s.explore_updates_owed)
        s.execute_updates_owed -= n_execute
        s.explore_updates_owed -= n_explore
        both = min(n_execute, n_explore)
        return ([(True, True)] * both + [(True, False)] * (n_execute - both)
                + [(False, True)] * (n_explore - both))

    # ---- evaluation ---------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Held-out trials, epsilon 0, execution conditioned on the decoder's z."""
        n = self.eval_env.num_envs
        # Test time: an agent may act differently (plan only at test), and its training
        # state (the noise stream) is left as it was.
        with self.agent.evaluation_mode():
            batch = play_trials(self.agent, self.eval_env, self.eval_problem_ids, self.eval_goal_ids,
                                np.random.default_rng(0), 0.0, 0.0, np.ones(n, dtype=bool))
        optimal = oracle.optimal_returns(self.layout, self.eval_problem_ids, self.eval_goal_ids)
        no_information = oracle.no_information_return(self.layout)
        mean_return = float(batch.returns.mean())
        result = {
            "eval_return": mean_return,
            "eval_return_std": float(batch.returns.std()),
            "eval_success": float(batch.success.mean()),
            "eval_explore_length": float(batch.x_length.mean()),
            "eval_execute_length": float(batch.length.mean()),
            "eval_fraction_optimal": oracle.fraction_of_optimal(mean_return, float(optimal.mean())),
            "optimal_return": float(optimal.mean()),
            "no_information_return": no_information,
        }
        # What exploration revealed bounds execution: the informed return splits the gap.
        informed = float(oracle.informed_returns(self.layout, self.eval_problem_ids, self.eval_goal_ids,
                                                 batch.x_obs, batch.x_actions, batch.x_length).mean())
        result.update(eval_informed_return=informed,
                      eval_explore_gap=float(optimal.mean()) - informed,
                      eval_execute_gap=informed - mean_return)
        if self.layout.has_map:  # did exploration read the map? (map_info is the last field)
            visited = (batch.x_obs[..., -1] > 0).any(axis=1)
            result["eval_map_visit_rate"] = float(visited.mean())
        if getattr(self.agent, "evaluate_with_problem_ids", False):
            # The same trials acting on the problem ids (IMPORT's informed path).
            with self.agent.evaluation_mode():
                informed = play_trials(self.agent, self.eval_env, self.eval_problem_ids,
                                       self.eval_goal_ids, np.random.default_rng(0), 0.0, 0.0,
                                       np.zeros(n, dtype=bool))
            result["eval_return_ids"] = float(informed.returns.mean())
        return result

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Trains until ``run.total_env_steps``; returns the final evaluation."""
        run, s = self.config.run, self.state
        progress = None
        if run.progress_bar:
            from tqdm import tqdm
            progress = tqdm(total=run.total_env_steps, initial=min(s.env_steps, run.total_env_steps),
                            unit="step", dynamic_ncols=True, desc=self.config.algorithm)
        start = time.perf_counter() - s.wall_time
        latest_eval = None
        collector = (concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="collect")
                     if run.overlap_collection else None)
        try:
            while s.env_steps < run.total_env_steps:
                steps_before = s.env_steps
                if run.overlap_collection:
                    batch = self._collect_while_updating(collector)
                else:
                    batch = self.collect()
                    self.update()
                s.wall_time = time.perf_counter() - start
                self._window.add_trials(batch)
                if s.trials - s.last_log_trials >= run.log_every_trials:
                    self._log_train()
                if s.trials - s.last_eval_trials >= run.eval_every_trials:
                    latest_eval = self._log_eval()
                if s.trials - s.last_checkpoint_trials >= run.checkpoint_every_trials:
                    self.save()
                if progress is not None:
                    progress.update(s.env_steps - steps_before)
                    progress.set_postfix(self._progress_postfix(latest_eval), refresh=False)
            if s.last_log_trials != s.trials:
                self._log_train()
            if s.last_eval_trials != s.trials:
                latest_eval = self._log_eval()
            elif latest_eval is None:  # resumed at its end: that evaluation is logged already
                latest_eval = self.evaluate()
            self.save()
        finally:
            if collector is not None:
                collector.shutdown()
            if progress is not None:
                progress.close()
            self.writer.flush()
        summary = {"algorithm": self.config.algorithm, "trials": s.trials, "env_steps": s.env_steps,
                   "wall_time": s.wall_time, "source_versions": s.source_versions, **latest_eval}
        with open(os.path.join(self.root_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        self.lock.release()
        return summary

    def close(self) -> None:
        """Closes the TensorBoard writer and frees the run folder; the runner logs nothing
        after this."""
        self.writer.close()
        self.lock.release()

    def save(self) -> str:
        """Checkpoints everything, after checking the weights are finite."""
        for v in self.agent.learned_variables():
            if not np.all(np.isfinite(v.numpy())):
                raise NonFiniteLossError(
                    f"weights of {v.name} are not finite at env step {self.state.env_steps}; "
                    f"not checkpointing (last good checkpoint: {self.manager.latest_checkpoint})")
        self.state.last_checkpoint_trials = self.state.trials
        self.writer.flush()  # the events up to the checkpoint survive a kill, like the CSV rows
        return self.manager.save(checkpoint_number=self.state.trials)

    def _progress_postfix(self, latest_eval):
        s = self.state
        postfix = {"sps": f"{s.env_steps / max(s.wall_time, 1e-9):.0f}",
                   "ret": f"{self._window.last_return:.2f}"}
        if latest_eval:
            postfix["eval"] = f"{latest_eval['eval_return']:.2f}"
        return postfix

    def _scalars(self, row: dict[str, float], step: int) -> None:
        with self.writer.as_default(step=step):
            for key, value in row.items():
                if key not in ("trials", "env_steps") and value is not None:
                    tf.summary.scalar(key, value)

    def _log_train(self) -> None:
        s = self.state
        explore_epsilon, execute_epsilon = self.epsilons()
        row = {"trials": s.trials, "env_steps": s.env_steps, "explore_steps": s.explore_steps,
               "execute_steps": s.execute_steps, "wall_time": round(s.wall_time, 3),
               "env_steps_per_sec": s.env_steps / max(s.wall_time, 1e-9)}
        if self.single_learner:
            row.update(epsilon=explore_epsilon, updates=int(self.agent.updates.numpy()))
        else:
            row.update(explore_epsilon=explore_epsilon, execute_epsilon=execute_epsilon,
                       execute_updates=int(self.agent.execute_updates.numpy()),
                       explore_updates=int(self.agent.explore_updates.numpy()))
        row.update(self._window.summary())
        for key, value in row.items():
            if "/" in key and not math.isfinite(value):  # a loss or another learner metric
                raise NonFiniteLossError(
                    f"{key} became {value} at env step {s.env_steps}; stopping without "
                    f"checkpointing (last good checkpoint: {self.manager.latest_checkpoint})")
        self.train_log.append(row)
        self._scalars({f"charts/{k}" if "/" not in k else f"losses/{k}": v for k, v in row.items()},
                      s.env_steps)
        self._window = _Window(last_return=self._window.last_return)
        s.last_log_trials = s.trials

    def _log_eval(self) -> dict[str, float]:
        s = self.state
        result = self.evaluate()
        self.eval_log.append({"trials": s.trials, "env_steps": s.env_steps,
                              "wall_time": round(s.wall_time, 3), **result})
        self._scalars({f"eval/{k}": v for k, v in result.items()}, s.env_steps)
        s.last_eval_trials = s.trials
        return result


_ACTOR_SEED_OFFSET = 1_000_003  # the actor's noise seed differs from the learner's


def _matching_variables(learner, actor) -> list[tuple[tf.Variable, tf.Variable]]:
    """(actor variable, learner variable) pairs of two agents built from one config."""
    pairs = list(zip(actor.learned_variables(), learner.learned_variables(), strict=True))
    for target, source in pairs:
        if target.shape != source.shape:
            raise ValueError(f"actor variable {target.name} {target.shape} does not match "
                             f"learner variable {source.name} {source.shape}")
    return pairs


class _Window:
    """Statistics accumulated between two train.csv rows."""

    def __init__(self, last_return: float = float("nan")):
        self.returns, self.success, self.explore_lengths, self.execute_lengths = [], [], [], []
        self.metric_sums: dict[str, float] = {}
        self.metric_counts: dict[str, int] = {}
        self.last_return = last_return

    def add_trials(self, batch: TrialBatch) -> None:
        self.returns.extend(batch.returns.tolist())
        self.success.extend(batch.success.tolist())
        self.explore_lengths.extend(batch.x_length.tolist())
        self.execute_lengths.extend(batch.length.tolist())
        self.last_return = float(np.mean(self.returns))

    def add_metrics(self, metrics) -> None:
        for key, value in metrics.items():
            self.metric_sums[key] = self.metric_sums.get(key, 0.0) + float(value)
            self.metric_counts[key] = self.metric_counts.get(key, 0) + 1

    def summary(self) -> dict[str, float]:
        mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
        out = {"train_return": mean(self.returns), "train_success": mean(self.success),
               "explore_length": mean(self.explore_lengths),
               "execute_length": mean(self.execute_lengths)}
        out.update({k: self.metric_sums[k] / self.metric_counts[k] for k in sorted(self.metric_sums)})
        return out
