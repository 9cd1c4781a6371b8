"""Hyper-parameters shared by DREAM's baselines (E-RL², IMPORT, VariBAD): one recurrent
dueling double-DQN acting through whole trials. Defaults are the reference values
(``paper`` preset; DREAM's ``configs/rl2.json``)."""

from __future__ import annotations

import dataclasses

from tf_metarl.config import check

EXPLORE_PROTOCOLS = ("tf_metarl", "original")


@dataclasses.dataclass(frozen=True)
class ERL2Config:
    """E-RL²: the experience encoder (LSTM over observation, goal, previous action, previous
    reward, boundary flag) with a dueling head on its output, one learner for both episodes."""

    # Networks.
    field_dim: int = 32  # per-field embedding size of observations and goals
    embed_hidden: int = 256  # hidden layer of the observation/goal embedders
    embed_dim: int = 64  # output size of the observation/goal embedders
    action_dim: int = 16  # previous-action embedding size (num_actions + 1 rows: NONE)
    reward_dim: int = 16  # Linear 1 -> this, on the previous reward
    done_dim: int = 16  # embedding size of the episode-boundary flag
    lstm_units: int = 64  # the LSTM whose state is carried through the trial

    # What the exploration episode shows the network: 'tf_metarl' (a NONE goal, reward 0)
    # is the only one this project's environment supports (see validate).
    explore_protocol: str = "tf_metarl"

    # DQN: one learner over whole trials.
    learning_rate: float = 1e-4  # Adam
    adam_epsilon: float = 1e-8  # Adam's epsilon (PyTorch's default, which the reference uses)
    grad_clip_norm: float = 10.0  # global gradient-norm clip of the summed losses
    discount: float = 0.99
    huber_delta: float = 0.0  # Huber threshold of the TD loss; <= 0 for the reference's td^2
    batch_size: int = 32  # trials per update
    replay_capacity: int = 16_000  # trials
    learning_starts: int = 800  # trials in replay before updates (and target syncs) start
    update_period: int = 4  # one update per this many env steps of either episode
    # Updates between target-network syncs: the reference's 5,000 env steps at one update
    # per 4 env steps.
    target_update_period: int = 1_250
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_steps: int = 500_000  # env steps (of both episodes) over which epsilon decays

    @classmethod
    def tiny_overrides(cls) -> dict:
        """Field values of the ``tiny`` preset (tests, seconds)."""
        return dict(field_dim=8, embed_hidden=32, embed_dim=16, action_dim=8, reward_dim=8,
                    done_dim=8, lstm_units=16, batch_size=8, replay_capacity=300,
                    learning_starts=8, target_update_period=50, epsilon_decay_steps=4_000,
                    learning_rate=1e-3)

    @classmethod
    def quick_overrides(cls) -> dict:
        """Field values of the ``quick`` preset (a demo of a few minutes)."""
        return dict(replay_capacity=4_000, target_update_period=1_000, epsilon_decay_steps=60_000,
                    learning_starts=100, learning_rate=3e-4)

    def validate(self) -> None:
        for name in ("field_dim", "embed_hidden", "embed_dim", "action_dim", "reward_dim",
                     "done_dim", "lstm_units", "batch_size", "replay_capacity", "update_period",
                     "target_update_period", "epsilon_decay_steps"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"agent.{name}={value!r}: expected an integer >= 1")
        check(self.explore_protocol in EXPLORE_PROTOCOLS,
              f"agent.explore_protocol={self.explore_protocol!r}: expected 'tf_metarl' or 'original'")
        check(self.explore_protocol != "original",
              "agent.explore_protocol='original' needs an exploration goal, observed exploration "
              "rewards and goal-ended exploration, which the environment lacks; use 'tf_metarl'")
        check(isinstance(self.learning_starts, int) and 0 <= self.learning_starts <= self.replay_capacity,
              f"agent.learning_starts={self.learning_starts!r}: expected an integer from 0 to "
              f"agent.replay_capacity={self.replay_capacity!r}")
        check(self.learning_rate > 0, f"agent.learning_rate={self.learning_rate!r}: expected > 0")
        check(self.adam_epsilon > 0, f"agent.adam_epsilon={self.adam_epsilon!r}: expected > 0")
        check(self.grad_clip_norm > 0, f"agent.grad_clip_norm={self.grad_clip_norm!r}: expected > 0")
        check(0 <= self.discount <= 1, f"agent.discount={self.discount!r}: expected 0 <= discount <= 1")
        for name in ("epsilon_start", "epsilon_end"):
            value = getattr(self, name)
            check(0 <= value <= 1, f"agent.{name}={value!r}: expected 0 <= value <= 1")
