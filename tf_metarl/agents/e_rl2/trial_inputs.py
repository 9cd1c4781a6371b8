"""A replayed trial as one sequence: the exploration episode, then the execution episode.

Position k = 0 .. Tx+Te of the unified sequence is exploration step k for k < L_x and
execution step k - L_x after (L_x = the trial's exploration length); the trial has
K = L_x + L_e steps, and position K is the input after the trial (valued, then masked).
Network inputs under the ``tf_metarl`` protocol:

  k < L_x:  observation o^x_k, the NONE goal, previous action (NONE at k = 0), reward 0, d 0
  k = L_x:  the execution start observation, the goal, NONE action, reward 0, d 1
  k > L_x:  o^e_t, the goal, a^e_{t-1}, r^e_{t-1}, d 0          (t = k - L_x)

The final exploration observation is never an input. Stored rewards are 0 in
exploration (it is not optimized) and the execution rewards after; the only terminal is
the trial's last step.
"""

from __future__ import annotations

import tensorflow as tf


def trial_inputs(batch, num_actions: int, none_goal) -> dict[str, tf.Tensor]:
    """The unified sequences of a replay batch of trials.

    Args:
      batch: ``trial_x_obs`` [B, Tx+1, F], ``trial_x_actions`` [B, Tx], ``trial_x_length``
        [B]; ``obs`` [B, Te+1, F], ``goal`` [B, 2], ``actions`` [B, Te], ``rewards``
        [B, Te], ``length`` [B].
      num_actions: A; the NONE action token is A.
      none_goal: the (x, y) NONE goal token (the layout's goal bounds).
    Returns:
      S = Tx + Te + 1 positions: ``obs`` [B, S, F], ``goal`` [B, S, 2], ``prev_action``
      [B, S], ``prev_reward`` [B, S], ``done`` [B, S]; S - 1 steps: ``actions``,
      ``rewards``, ``step_mask`` (k < K), ``terminal`` (k = K - 1), ``explore_mask``
      (k < L_x) [B, S-1], and ``trial_length`` K [B].
    """
    x_obs, x_actions = batch["trial_x_obs"], tf.cast(batch["trial_x_actions"], tf.int32)
    obs, actions = batch["obs"], tf.cast(batch["actions"], tf.int32)
    rewards = tf.cast(batch["rewards"], tf.float32)
    Tx, Te = x_actions.shape[1], actions.shape[1]
    S = Tx + Te + 1
    x_length = tf.cast(batch["trial_x_length"], tf.int32)[:, None]
    length = tf.cast(batch["length"], tf.int32)[:, None]
    k = tf.range(S)[None]  # [1, S]
    in_x = k < x_length  # [B, S]
    e = k - x_length  # execution step index

    def take(values, index, size):
        return tf.gather(values, tf.clip_by_value(index, 0, size - 1), axis=1, batch_dims=1)

    unified_obs = tf.where(in_x[..., None], take(tf.cast(x_obs, tf.int32), k + 0 * e, Tx + 1),
                           take(tf.cast(obs, tf.int32), e, Te + 1))
    none_goal = tf.constant(none_goal, tf.int32)
    goal = tf.cast(batch["goal"], tf.int32)[:, None]
    unified_goal = tf.where(in_x[..., None], none_goal, goal)
    none_action = tf.fill(tf.shape(e), num_actions)
    prev_action = tf.where(
        in_x, tf.where(k == 0, none_action, take(x_actions, k - 1 + 0 * e, Tx)),
        tf.where(e == 0, none_action, take(actions, e - 1, Te)))
    prev_reward = tf.where(e >= 1, take(rewards, e - 1, Te), 0.0)
    done = tf.cast(e == 0, tf.int32)
    steps = k[:, :-1]
    step_x, step_e = in_x[:, :-1], e[:, :-1]
    step_actions = tf.where(step_x, take(x_actions, steps + 0 * step_e, Tx), take(actions, step_e, Te))
    step_rewards = tf.where(step_x, 0.0, take(rewards, step_e, Te))
    trial_length = x_length + length  # K
    return {
        "obs": unified_obs, "goal": unified_goal, "prev_action": prev_action,
        "prev_reward": prev_reward, "done": done, "actions": step_actions,
        "rewards": step_rewards,
        "step_mask": tf.cast(steps < trial_length, tf.float32),
        "terminal": tf.cast(steps == trial_length - 1, tf.float32),
        "explore_mask": tf.cast(step_x, tf.float32),
        "trial_length": trial_length[:, 0],
    }
