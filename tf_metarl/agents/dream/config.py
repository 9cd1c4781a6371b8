"""DREAM hyper-parameters. Defaults are the reference values (``paper`` preset)."""

from __future__ import annotations

import dataclasses

from tf_metarl.config import check, check_layer_sizes


@dataclasses.dataclass(frozen=True)
class DreamConfig:
    """Networks, losses and replay of DREAM's two agents."""

    # Networks.
    field_dim: int = 32  # per-field embedding size of observations and goals
    embed_hidden: int = 256  # hidden layer of the state/goal embedder
    embed_dim: int = 64  # output size of the state/goal embedder
    action_dim: int = 32  # action embedding size
    q_lstm_units: int = 64  # LSTM of both Q-networks
    q_hidden: tuple[int, ...] = (256, 64)  # execution Q: [LSTM, z] -> these layers -> dueling head
    explore_q_hidden: tuple[int, ...] = ()  # exploration Q: LSTM -> these layers -> head (none)
    q_torso_relu_output: bool = False  # ReLU on the last of those layers too (else linear)
    problem_id_dim: int = 32  # Embedding(num_problems, problem_id_dim) of f(mu)
    z_dim: int = 64  # task embedding size
    decoder_transition: tuple[int, ...] = (128, 64)  # per-transition MLP of the decoder
    decoder_lstm_units: int = 128  # LSTM of the decoder
    decoder_output_hidden: tuple[int, ...] = (128,)  # MLP from the decoder LSTM to z

    # Information bottleneck on f(mu).
    bottleneck_noise: float = 0.1  # rho: z = f(mu) + rho * eps
    bottleneck_weight: float = 1.0  # lambda
    bottleneck_norm_floor: float = 10.0  # K: only ||f||^2 above K is penalised

    # Exploration reward r_t = d_t - d_{t+1} - c.
    exploration_step_penalty: float = 0.1  # c

    # DQN.
    learning_rate: float = 1e-4  # Adam, both agents
    adam_epsilon: float = 1e-8  # Adam's epsilon (PyTorch's default, which the reference uses)
    grad_clip_norm: float = 10.0  # global gradient-norm clip
    discount: float = 0.99
    # Huber threshold of the TD loss; <= 0 for the squared error (td^2) of the reference
    # code. 1.0 was this project's default before the reference values.
    huber_delta: float = 0.0
    batch_size: int = 32  # episodes per update
    replay_capacity: int = 16_000  # episodes per agent
    update_period: int = 4  # one update per this many env steps of each agent
    # Updates between target-network syncs. The reference syncs every 5,000 env steps of
    # the agent, which at one update per 4 env steps is 1,250 updates (the DREAM paper's
    # table says "5000 updates"; 5,000 was this project's default before).
    target_update_period: int = 1_250
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_steps: int = 250_000  # env steps of each agent over which epsilon decays
    execute_learning_starts: int = 500  # execution episodes before its updates start
    explore_learning_starts: int = 8_000  # exploration episodes before its updates start

    # Which embedding the execution policy acts on while collecting meta-training trials:
    # 'alternate' (even trials the decoder's, odd trials f(mu) + noise), 'decoder', 'encoder'.
    train_conditioning: str = "alternate"

    @classmethod
    def tiny_overrides(cls) -> dict:
        """Field values of the ``tiny`` preset: networks and schedules for tests (seconds).
        Subclasses extend this with their own fields."""
        return dict(field_dim=8, embed_hidden=32, embed_dim=16, action_dim=8, q_lstm_units=16,
                    q_hidden=(32, 16), problem_id_dim=8, z_dim=8, decoder_transition=(32, 16),
                    decoder_lstm_units=16, decoder_output_hidden=(16,), batch_size=8,
                    replay_capacity=300, target_update_period=50, epsilon_decay_steps=2_000,
                    execute_learning_starts=8, explore_learning_starts=8, learning_rate=1e-3)

    def validate(self) -> None:
        for name in ("field_dim", "embed_hidden", "embed_dim", "action_dim", "q_lstm_units",
                     "problem_id_dim", "z_dim", "decoder_lstm_units", "batch_size",
                     "replay_capacity", "update_period", "target_update_period",
                     "epsilon_decay_steps"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"agent.{name}={value!r}: expected an integer >= 1")
        check_layer_sizes(self, "q_hidden", "decoder_transition", "decoder_output_hidden")
        check_layer_sizes(self, "explore_q_hidden", allow_empty=True)
        check(isinstance(self.q_torso_relu_output, bool),
              f"agent.q_torso_relu_output={self.q_torso_relu_output!r}: expected true or false")
        for name in ("execute_learning_starts", "explore_learning_starts"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 0, f"agent.{name}={value!r}: expected an integer >= 0")
            # Replay never holds more than its capacity, so a larger threshold never trains.
            check(value <= self.replay_capacity,
                  f"agent.{name}={value!r} exceeds agent.replay_capacity={self.replay_capacity!r}: "
                  f"that learner would never start updating")
        check(self.learning_rate > 0, f"agent.learning_rate={self.learning_rate!r}: expected > 0")
        check(self.adam_epsilon > 0, f"agent.adam_epsilon={self.adam_epsilon!r}: expected > 0")
        check(self.grad_clip_norm > 0, f"agent.grad_clip_norm={self.grad_clip_norm!r}: expected > 0")
        check(0 <= self.discount <= 1, f"agent.discount={self.discount!r}: expected 0 <= discount <= 1")
        check(self.bottleneck_noise >= 0, f"agent.bottleneck_noise={self.bottleneck_noise!r}: expected >= 0")
        check(self.bottleneck_weight >= 0, f"agent.bottleneck_weight={self.bottleneck_weight!r}: expected >= 0")
        for name in ("epsilon_start", "epsilon_end"):
            value = getattr(self, name)
            check(0 <= value <= 1, f"agent.{name}={value!r}: expected 0 <= value <= 1")
        check(self.train_conditioning in ("alternate", "decoder", "encoder"),
              f"agent.train_conditioning={self.train_conditioning!r}: expected 'alternate', 'decoder' or 'encoder'")
