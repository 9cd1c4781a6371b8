"""The bus-map world: layouts, the batched core, the oracle and the gymnasium env."""

from tf_metarl.envs.core import BatchedBusMap, BusMapTables, Phase, build_tables, sample_trials
from tf_metarl.envs.layout import (
    ACTION_NAMES, DEFAULT_PRESET, PRESETS, BusMapLayout, LayoutError,
    check_observation_compatible, layout_from_dict, load_layouts, preset_layout)
from tf_metarl.envs.oracle import (
    explored_knowledge, explored_knowledge_batch, informed_return, informed_returns,
    known_buses_return, mean_optimal_return, no_information_return, optimal_actions,
    optimal_return, optimal_returns)
from tf_metarl.envs.gym_env import ENV_ID, BusMapEnv, register_envs
from tf_metarl.envs.rendering import render_ansi, render_rgb

register_envs()
