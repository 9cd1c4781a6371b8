"""The exported SavedModel's contract, shared by the exporter and the loader.

Kept free of TensorFlow and of the training code, so a reader of exported policies needs
nothing but this file to know what to expect.

Signatures (all batch dimensions ``None``; ``N`` trials, ``F`` observation fields,
``T`` the training horizon, ``Z`` the embedding size, ``A`` the number of actions):

  explore_initial_state(batch_size: int32 [])                 -> {h, c}
  explore_step(observation int32 [N, F], prev_action int32 [N], h, c)
                                                              -> {action, q_values, h, c}
  embed_exploration(observations int32 [N, T'+1, F], actions int32 [N, T'], length int32 [N])
                                                              -> {embedding float32 [N, Z]}
  execute_initial_state(batch_size: int32 [])                 -> {h, c}
  execute_step(observation int32 [N, F], goal int32 [N, 2], embedding float32 [N, Z], h, c)
                                                              -> {action, q_values, h, c}
  metadata()                                                  -> {metadata_json: string []}

``prev_action == num_actions`` means "no action yet" (the first exploration step);
``action`` is ``argmax(q_values)``; ``T' <= T`` (shorter episodes are padded inside).
The same metadata JSON is written to ``assets/metadata.json``.
"""

from __future__ import annotations

FORMAT_VERSION = 1
METADATA_ASSET = "metadata.json"
METADATA_SIGNATURE = "metadata"
METADATA_OUTPUT = "metadata_json"

POLICY_SIGNATURES: tuple[str, ...] = (
    "explore_initial_state", "explore_step", "embed_exploration", "execute_initial_state",
    "execute_step")

# Keys every metadata file must have; a loader refuses a file without them.
REQUIRED_METADATA_KEYS: tuple[str, ...] = (
    "format_version", "algorithm", "env_preset", "layout", "observation_fields",
    "observation_bounds", "goal_bounds", "action_names", "num_actions", "horizon",
    "embedding_size", "state_names")
