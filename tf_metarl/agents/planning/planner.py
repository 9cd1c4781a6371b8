"""Depth-D planning through a learned model (CRAR section 4.2; VPN's expansion).

    Q^0(x, a) = Q(x, a)
    Q^d(x, a) = r(x, a) + g(x, a) * max_{a' in B(x')} Q^{d-1}(x', a'),   x' = T(x, a)

(the seed paper prints argmax; the value is the max). The root expands every action;
every deeper node x' only the ``breadth`` actions B(x') with the highest plain Q(x', .),
as in CRAR. At depth 1 the pruning changes nothing (the max over the top-b of Q is the
max over all of Q); from depth 2 on it does. ``estimate='average'`` returns
mean_{d=0..D} Q^d (CRAR's choice), ``'deepest'`` returns Q^D.

The tree is built breadth-first, one batched model call per level: level 1 holds N*A
nodes (node n*A + a), level l > 1 holds N*A*k^(l-1) (node i*k + j is child j of node i),
k = min(breadth, A). Every Q^d, d <= D, is read off the same tree (the expansion of a node
does not depend on d), by backing values up from level d to the root. Only a Python loop
over the static depth; no loop over actions or batch.

The planner knows nothing about networks: a state x is any nest of tensors with a
leading node axis, and the caller supplies
    q_fn(x) -> Q [M, A]
    model_fn(x, actions [M]) -> (x' (same nest), reward [M], discount [M]).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tf_metarl.agents.planning.config import ESTIMATES


def _repeat_nodes(x, times: int):
    """Each node of the nest ``x`` repeated ``times`` times in a row: [M, ...] -> [M*times, ...]."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, times, axis=0), x)


def plan_q_values(q_fn: Callable, model_fn: Callable, root, num_actions: int, depth: int,
                  breadth: int = 2, estimate: str = "average"):
    """Planned values of every action at the root states.

    Args:
      q_fn: x -> Q(x, .) [M, A].
      model_fn: (x, actions [M]) -> (T(x, a), r(x, a) [M], g(x, a) [M]).
      root: nest of [N, ...] tensors, the current states.
      num_actions: A.
      depth: D >= 0 (static). D = 0 returns q_fn(root) unchanged.
      breadth: b >= 1, actions expanded at every non-root node (top-b by Q).
      estimate: 'average' (mean of Q^0..Q^D) or 'deepest' (Q^D).
    Returns:
      [N, A] planned Q-values.
    """
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate={estimate!r}: expected one of {ESTIMATES}")
    if depth < 0 or breadth < 1:
        raise ValueError(f"depth={depth}, breadth={breadth}: expected depth >= 0 and breadth >= 1")
    q_root = q_fn(root)  # [N, A]
    if depth == 0:
        return q_root
    k = min(int(breadth), int(num_actions))
    num_roots = tf.shape(q_root)[0]

    # Build the tree. Level l (1..D): nodes x_l, the reward/discount of the step into
    # them, and their plain Q-values.
    rewards, discounts, q_levels = [], [], []
    x = _repeat_nodes(root, num_actions)
    actions = tf.tile(tf.range(num_actions, dtype=tf.int32), [num_roots])  # root: all actions
    for level in range(1, depth + 1):
        x, r, g = model_fn(x, actions)
        q = q_fn(x)  # [M_l, A]
        rewards.append(r)
        discounts.append(g)
        q_levels.append(q)
        if level < depth:  # expand the top-k actions of every node by plain Q
            actions = tf.reshape(tf.math.top_k(q, k).indices, [-1])
            x = _repeat_nodes(x, k)

    def q_at_depth(d):
        """Q^d at the root [N, A], backed up from the nodes of level d."""
        value = tf.reduce_max(q_levels[d - 1], axis=-1)  # V^0 = max_a Q at level d
        for level in range(d, 1, -1):  # Q of the level-(l-1) nodes' expanded actions
            q_parent = rewards[level - 1] + discounts[level - 1] * value
            value = tf.reduce_max(tf.reshape(q_parent, [-1, k]), axis=-1)
        return tf.reshape(rewards[0] + discounts[0] * value, [num_roots, num_actions])

    if estimate == "deepest":
        return q_at_depth(depth)
    return tf.add_n([q_root] + [q_at_depth(d) for d in range(1, depth + 1)]) / (depth + 1.0)
