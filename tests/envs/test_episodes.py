"""run_episode pads finished trials by hand-worked cases."""

import numpy as np

from tf_metarl.envs import BatchedBusMap, Phase, preset_layout
from tf_metarl.envs.episodes import run_episode
from tf_metarl.envs.layout import END_EPISODE, NOOP, RIGHT


def test_finished_trials_repeat_their_last_observation_and_record_noops():
    layout = preset_layout("small_map")  # start (2, 2), horizon 10
    env = BatchedBusMap(layout, 2)
    env.start_trials([0, 0], [0, 0])
    seen_prev = []

    def act(obs, prev_action):
        seen_prev.append(prev_action.copy())
        # Trial 0 ends at once; trial 1 walks right twice, then ends.
        return np.array([END_EPISODE, RIGHT if len(seen_prev) <= 2 else END_EPISODE])

    episode = run_episode(env, Phase.EXPLORE, act)
    np.testing.assert_array_equal(episode.length, [1, 3])
    np.testing.assert_array_equal(seen_prev[0], [layout.num_actions] * 2)  # "no action yet"
    assert len(seen_prev) == 3  # stops once every trial is done
    np.testing.assert_array_equal(episode.actions[0, :3], [END_EPISODE, NOOP, NOOP])
    np.testing.assert_array_equal(episode.actions[1, :3], [RIGHT, RIGHT, END_EPISODE])
    # x of trial 1: 2, 3, 4, 4 (end), then padded with 4 up to T+1 = 11 entries.
    np.testing.assert_array_equal(episode.obs[1, :, 0], [2, 3, 4, 4] + [4] * 7)
    np.testing.assert_array_equal(episode.obs[0, :, 0], [2] * 11)
    assert episode.cells.shape == (2, 11) and episode.cells[1, -1] == layout.cell_index((4, 2))
