"""The exported SavedModel's contract, shared by the exporter, the loader and the consumer.

Kept free of TensorFlow and of the training code. The contract a consumer reads is
``contract_document(metadata)``: Markdown written to ``assets/README.md`` of every export
(``write_contract_document``), with the model's numbers filled in from its metadata, so
someone holding only the model folder (no tf_metarl) has the signatures, the call order
of a trial, the rules of ``embed_exploration``'s inputs and the bus-map rules. The
signatures it lists are ``SIGNATURES``; tests compare them with the real signatures of
exported and shipped SavedModels, and the shipped READMEs with this function's output.

In short (``N`` trials, ``F`` observation fields, ``T`` the training horizon, ``Z`` the
embedding size, ``A`` the number of actions, ``U`` a recurrent state size):

  explore_initial_state(batch_size int32 [])                     -> {h, c}
  explore_step(observation int32 [N, F], prev_action int32 [N], h, c)
                                                                 -> {action, q_values, h, c}
  embed_exploration(observations int32 [N, T'+1, F], actions int32 [N, T'], length int32 [N])
                                                                 -> {embedding float32 [N, Z]}
  execute_initial_state(batch_size int32 [])                     -> {h, c}
  execute_step(observation int32 [N, F], goal int32 [N, 2], embedding float32 [N, Z], h, c)
                                                                 -> {action, q_values, h, c}
  metadata(unused int32 [])                                      -> {metadata_json string []}

``metadata``'s ``unused`` input (any value) exists because TensorFlow Serving refuses a
signature without inputs; exports made before it (``metadata_takes_input`` absent from
their metadata) have ``metadata()`` with no inputs (``signatures(metadata)``).

``prev_action == num_actions`` ("no action yet") only at the first exploration step;
``0 <= length <= T' <= T``; padding after ``length`` must be valid values and does not
change the embedding (see ``contract_document``).
"""

from __future__ import annotations

import os
from typing import Any

from tf_metarl.envs.layout import layout_from_dict

FORMAT_VERSION = 1
METADATA_ASSET = "metadata.json"
CONTRACT_ASSET = "README.md"  # assets/README.md: contract_document(metadata)
METADATA_SIGNATURE = "metadata"
METADATA_OUTPUT = "metadata_json"
# The metadata signature's one input, ignored: TF Serving cannot call a signature without
# inputs. Exports since it was added say so with ``metadata_takes_input: true``.
METADATA_INPUT = ("unused", "int32", ())
METADATA_TAKES_INPUT = "metadata_takes_input"
# The action embed_exploration pads with (and consumers should), by name.
PAD_ACTION_NAME = "noop"
# Start of the message of the in-graph check of embed_exploration's length (new exports).
LENGTH_ERROR = "embed_exploration: length exceeds actions.shape[1]"

# name -> (inputs, outputs), each a tuple of (name, dtype, shape). Shape symbols: N trials
# (batch), F observation fields, A actions, Z embedding size, T' steps given to
# embed_exploration, Ux / Ue the exploration / execution LSTM sizes (``signature_dims``).
_STATE_X = (("h", "float32", ("N", "Ux")), ("c", "float32", ("N", "Ux")))
_STATE_E = (("h", "float32", ("N", "Ue")), ("c", "float32", ("N", "Ue")))
_STEP_OUT = (("action", "int32", ("N",)), ("q_values", "float32", ("N", "A")))
SIGNATURES: dict[str, tuple[tuple[tuple[str, str, tuple], ...], tuple[tuple[str, str, tuple], ...]]] = {
    "explore_initial_state": ((("batch_size", "int32", ()),), _STATE_X),
    "explore_step": ((("observation", "int32", ("N", "F")), ("prev_action", "int32", ("N",)))
                     + _STATE_X, _STEP_OUT + _STATE_X),
    "embed_exploration": ((("observations", "int32", ("N", "T'+1", "F")),
                           ("actions", "int32", ("N", "T'")), ("length", "int32", ("N",))),
                          (("embedding", "float32", ("N", "Z")),)),
    "execute_initial_state": ((("batch_size", "int32", ()),), _STATE_E),
    "execute_step": ((("observation", "int32", ("N", "F")), ("goal", "int32", ("N", 2)),
                      ("embedding", "float32", ("N", "Z"))) + _STATE_E, _STEP_OUT + _STATE_E),
    METADATA_SIGNATURE: ((METADATA_INPUT,), ((METADATA_OUTPUT, "string", ()),)),
}

POLICY_SIGNATURES: tuple[str, ...] = tuple(n for n in SIGNATURES if n != METADATA_SIGNATURE)

# Keys every metadata file must have; a loader refuses a file without them.
REQUIRED_METADATA_KEYS: tuple[str, ...] = (
    "format_version", "algorithm", "env_preset", "layout", "observation_fields",
    "observation_bounds", "goal_bounds", "action_names", "num_actions", "horizon",
    "embedding_size", "state_names")


def signatures(metadata: dict[str, Any]):
    """``SIGNATURES`` as a policy with ``metadata`` has them: exports made before
    ``metadata`` took its ``unused`` input have ``metadata()`` without inputs."""
    if metadata.get(METADATA_TAKES_INPUT, False):
        return dict(SIGNATURES)
    return {**SIGNATURES, METADATA_SIGNATURE: ((), SIGNATURES[METADATA_SIGNATURE][1])}


def signature_dims(metadata: dict[str, Any]) -> dict[str, int | None]:
    """Shape symbol of ``SIGNATURES`` -> its size for a policy (None: any size)."""
    sizes = metadata.get("state_sizes", {})
    return {"N": None, "T'": None, "T'+1": None, "F": len(metadata["observation_fields"]),
            "A": int(metadata["num_actions"]), "Z": int(metadata["embedding_size"]),
            "Ux": sizes.get("explore"), "Ue": sizes.get("execute")}


def pad_action(metadata: dict[str, Any]) -> int:
    """The padding action of ``embed_exploration`` (noop): ``pad_action`` in the metadata of
    exports since it was added, else the index of ``PAD_ACTION_NAME`` in ``action_names``."""
    if "pad_action" in metadata:
        return int(metadata["pad_action"])
    return list(metadata["action_names"]).index(PAD_ACTION_NAME)


def _shape_text(shape, dims) -> str:
    if not shape:
        return "[]"
    return "[" + ", ".join(str(d if isinstance(d, int) else (dims.get(d) or d)) for d in shape) + "]"


def _signature_lines(metadata, dims) -> list[str]:
    lines = []
    for name, (inputs, outputs) in signatures(metadata).items():
        args = ", ".join(f"{n} {t} {_shape_text(s, dims)}" for n, t, s in inputs)
        outs = ", ".join(f"{n} {t} {_shape_text(s, dims)}" for n, t, s in outputs)
        lines += [f"    {name}({args})", f"        -> {{{outs}}}"]
    return lines


def contract_document(metadata: dict[str, Any]) -> str:
    """The consumer's contract of a policy with ``metadata``: ``assets/README.md``."""
    m = metadata
    lay = m["layout"]
    dims = signature_dims(m)
    fields, bounds = list(m["observation_fields"]), list(m["observation_bounds"])
    A, T, Z = int(m["num_actions"]), int(m["horizon"]), int(m["embedding_size"])
    names = list(m["action_names"])
    no_action = int(m.get("no_action", A))
    pad = pad_action(m)
    end = names.index("end_episode")
    # The counts come from the layout itself, so the contract cannot disagree with it.
    layout = layout_from_dict(lay, str(lay.get("name", "layout")))
    colored, gray = layout.num_colored_permutations, layout.num_gray_permutations
    num_problems = layout.num_problems
    train, test = (layout.split_problem_ids(split).size for split in ("train", "test"))
    has_map = layout.has_map
    actions = ", ".join(f"{i} {n}" for i, n in enumerate(names))
    checked = m.get("embed_exploration_checks_length", False)
    length_rule = (
        f"This model checks it: the call fails with `InvalidArgumentError` whose message "
        f"contains `{LENGTH_ERROR}`."
        if checked else
        "This model was exported before that check existed and does NOT detect it: it "
        "silently reads the noop padding it adds inside and returns a different embedding.")
    split_text = (f"`test_split_every` = {layout.test_split_every}: train = the ids with "
                  f"`mu % test_split_every == 0`, test (held out) = the others"
                  if layout.has_held_out_split else
                  "`test_split_every` = 1: train and test are both every id (no held-out problems)")
    any_goal = ("; and, since `terminate_on_any_goal` is true, arriving on any other goal "
                "cell also ends the episode (with that -step_cost)"
                if lay.get("terminate_on_any_goal") else
                " (`terminate_on_any_goal` is false: other goal cells are ordinary cells)")
    lines = [
        "# Calling this policy without tf_metarl",
        "",
        f"This folder is a TensorFlow SavedModel exported by tf_metarl (export format "
        f"{m['format_version']}): the `{m['algorithm']}` exploration and execution policies "
        f"for the bus-map layout `{lay.get('name', m.get('env_preset'))}`. TensorFlow and NumPy "
        "are all it needs. This file is generated from `assets/metadata.json` (the same JSON "
        "the `metadata` signature returns as `metadata_json`) and is the whole calling "
        "contract; the numbers below are this model's.",
        "",
        "```python",
        "import json, numpy as np, tensorflow as tf",
        "model = tf.saved_model.load(path)",
        "sig = model.signatures      # call sig[name](**inputs): keyword arguments, a dict back",
        "meta = json.load(open(f\"{path}/assets/metadata.json\"))",
        "```",
        "",
        "Pass every input as a tensor of exactly the listed dtype (e.g. "
        "`tf.constant(x, tf.int32)`).",
        "",
        "## This policy (metadata keys in parentheses)",
        "",
        "- N: the number of trials played together; any N >= 1, the same in every input of a call.",
        f"- Observation, F = {len(fields)} integer fields `{fields}` (`observation_fields`); "
        f"field i lies in 0 .. bounds[i]-1, bounds = {bounds} (`observation_bounds`).",
        f"- Actions, A = {A} (`num_actions`): {actions} (`action_names`).",
        f"- `no_action` = {no_action}: the `prev_action` of the FIRST `explore_step` of an "
        "episode, meaning \"no action yet\". It is not an action: never send it to the "
        "environment or to `embed_exploration`.",
        f"- Padding action = {pad} ({names[pad]}): what `embed_exploration` pads `actions` "
        "with (any valid action would do, see below).",
        f"- Horizon T = {T} (`horizon`): the most steps of an episode.",
        f"- Embedding Z = {Z} (`embedding_size`); recurrent states `h`, `c`: float32 "
        f"[N, {dims['Ux']}] exploration, [N, {dims['Ue']}] execution (`state_sizes`).",
        f"- Goal input: the goal cell's `[x, y]`, 0 <= x < {m['goal_bounds'][0]}, "
        f"0 <= y < {m['goal_bounds'][1]} (`goal_bounds`).",
        "",
        "## Signatures",
        "",
        "`T'` is the number of steps given to `embed_exploration` (0 <= T' <= T).",
        "",
        *_signature_lines(m, dims),
        "",
        "`action` is argmax(`q_values`), the greedy action. `h`, `c` out are the state for "
        "the next step of the same episode.",
        "",
        "## One trial",
        "",
        "A trial plays one problem `mu` with one goal: an exploration episode, then an "
        "execution episode; both start at the layout's `start` cell. For N trials at once:",
        "",
        "1. `s = explore_initial_state(batch_size=N)`; `obs` = the start observations "
        f"[N, {len(fields)}]; `prev` = {no_action} (`no_action`) for every trial.",
        "2. Repeat: `out = explore_step(observation=obs, prev_action=prev, h=s[\"h\"], "
        "c=s[\"c\"])`; take `a = out[\"action\"]` in the environment; record the observation "
        "after it; `prev = a`; `s = out`. A trial's episode ends after it takes "
        f"`end_episode` ({end}, which counts as a step) or after T = {T} steps; L = its number "
        "of steps (1 <= L <= T). Keep calling for the whole batch until every trial has "
        "ended; ignore the actions of ended trials.",
        "3. `z = embed_exploration(observations=..., actions=..., length=L)[\"embedding\"]`: "
        "trial i's row holds its observations o_0 (start) .. o_L, its actions a_0 .. a_{L-1} "
        "(a_t led from o_t to o_{t+1}), then padding (next section).",
        "4. `s = execute_initial_state(batch_size=N)`; `obs` = the start observations; "
        "`goal` = [N, 2] goal cells.",
        "5. Repeat until the episode ends (below): `out = execute_step(observation=obs, "
        "goal=goal, embedding=z, h=s[\"h\"], c=s[\"c\"])`; take `out[\"action\"]`; add its "
        "reward; `s = out`. The trial's return is the execution episode's return.",
        "",
        *_memory_section(m),
        "## embed_exploration: length and padding",
        "",
        f"- `observations` has one step more than `actions` (T'+1 and T'), and T' <= T = {T}.",
        "- Length rule: 0 <= `length[i]` <= T'. `length[i]` = L, the steps trial i took; the "
        "embedding reads only `observations[i, :L+1]` and `actions[i, :L]`. A length above "
        f"T' is an error. {length_rule}",
        "- Padding rule: entries after those are padding; their values do not change the "
        f"embedding, but they must be valid: actions in 0..{A - 1} (NOT `no_action` = "
        f"{no_action}, which fails with `InvalidArgumentError ... = {no_action} is not in "
        f"[0, {A})`) and observation fields within `observation_bounds`. tf_metarl pads "
        f"actions with {pad} ({names[pad]}) and repeats the last real observation.",
        "- Arrays need not be padded to T: the signature pads to T inside, so one trial "
        "given unpadded (T' = L) and the same trial padded to any longer T' give the same "
        "embedding. (Changing N, the batch, can change the last float32 bits.)",
        "",
        "## The environment (bus-map world)",
        "",
        "`metadata.json`'s `layout` holds this layout's data: `width`, `height`, `start`, "
        "`colored_stops`, `colored_destinations`, `gray_stops`, `gray_destinations`, "
        "`map_cell` (null: no map), `goals`, `step_cost`, `horizon`, "
        "`terminate_on_any_goal`, `num_actions`, `test_split_every`, `problem_ids`. Cells "
        "are `[x, y]`, 0 <= x < width, 0 <= y < height. The rules:",
        "",
        "- Problems: ids `mu` are `problem_ids`, or 0 .. P-1 when that list is empty; "
        "P = Pc * Pg, Pc = (number of colored stops)!, Pg = (number of gray stops)! "
        f"(1 without gray buses). Here Pc = {colored}, Pg = {gray}, P = {num_problems}.",
        "- Buses of problem `mu`, with `perms(n) = list(itertools.permutations(range(n)))`: "
        "`pc = perms(len(colored_stops))[mu % Pc]`, colored bus i joins `colored_stops[i]` and "
        "`colored_destinations[pc[i]]`; `pg = perms(len(gray_stops))[mu // Pc]`, gray bus i "
        "joins `gray_stops[i]` and `gray_destinations[pg[i]]`. Buses run both ways.",
        "- Moves: left x-1, up y+1, right x+1, down y-1, staying put at the border; noop "
        "(every action named noop) stays; `ride_bus` on either end of a bus moves to its "
        "other end, elsewhere it stays; `end_episode` stays and ends the episode.",
        f"- Observation `{fields}`: status = 1 on every stop and destination "
        "cell (colored and gray alike, the same cells in every problem), else 0; map_info = "
        "`mu % Pc + 1` on `map_cell` and 0 elsewhere"
        + ("." if has_map else " (this layout has no map: the field is absent)."),
        "- Exploration episode: reward 0; ends after `end_episode` or T steps (goals do not "
        "end it).",
        "- Execution episode, at step k (k steps taken before it): `end_episode` pays "
        "-step_cost * (T - k) and ends it; arriving on the goal cell pays +1 and ends it; "
        f"any other step pays -step_cost{any_goal}. It ends after T steps at the latest. "
        f"Here step_cost = {lay['step_cost']}.",
        "- Goals: goal index g is the cell `goals[g]`; tf_metarl draws g uniformly.",
        f"- Splits: {split_text}. Here {train} train and {test} test problems. This policy "
        f"was trained on the `{m.get('train_split', 'train')}` split; tf_metarl evaluates "
        f"it on `{m.get('eval_split', 'test')}`, drawing problems uniformly.",
        "- Another layout fits this policy if it has the same `observation_fields` and "
        "`num_actions`, observation bounds no larger, goals within `goal_bounds` and a "
        "horizon no longer than T.",
        "",
    ]
    return "\n".join(lines)


def _memory_section(m: dict[str, Any]) -> list[str]:
    """What the embedding and states of a whole-trial recurrent policy (E-RL², IMPORT,
    VariBAD: metadata with ``execute_state_layout``) hold; nothing for other policies."""
    if "execute_state_layout" not in m:
        return []
    U = int(m["state_sizes"]["explore"])
    return [
        "## What the embedding and the recurrent states hold",
        "",
        f"This policy is one recurrent network acting through the whole trial (explore "
        f"protocol `{m.get('explore_protocol', 'tf_metarl')}`: exploration inputs carry no "
        "goal and reward 0). Its LSTM state after exploration is where execution starts:",
        "",
        f"- `embedding` (`embedding_layout`): {m.get('embedding_layout', '')}. It is the "
        "policy's memory, not a task embedding comparable to DREAM's; it equals the `h`, `c` "
        "returned by the last `explore_step` of the episode.",
        f"- Exploration `h`, `c` [N, {U}]: the LSTM state.",
        f"- Execution `h`, `c` [N, {U + 1}] (`execute_state_layout`): "
        f"{m['execute_state_layout']}. `execute_initial_state` is all zeros, so the first "
        "`execute_step` starts the LSTM from `embedding`; later steps read the previous "
        "action from `h` and treat the previous reward as -step_cost. `execute_step` writes "
        f"its greedy `action` into `h[:, {U}]`: a caller who takes a different action must "
        f"write that action (as a float) into `h[:, {U}]` before the next call.",
        "",
    ]


def contract_path(saved_model: str) -> str:
    """The contract's file in a SavedModel folder: ``<saved_model>/assets/README.md``."""
    return os.path.join(saved_model, "assets", CONTRACT_ASSET)


def write_contract_document(saved_model: str, metadata: dict[str, Any]) -> str:
    """Writes ``contract_document(metadata)`` to ``<saved_model>/assets/README.md``;
    returns the path. The exporter calls it; it also documents models exported before."""
    path = contract_path(saved_model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(contract_document(metadata))
    return path
