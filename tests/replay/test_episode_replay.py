import numpy as np
import pytest

from tf_metarl.replay import EpisodeReplay

SPEC = {"obs": ((3, 2), np.int16), "length": ((), np.int16)}


def episodes(start, n):
    return {"obs": np.arange(start, start + n)[:, None, None] * np.ones((n, 3, 2), np.int16),
            "length": np.arange(start, start + n, dtype=np.int16)}


def test_ring_buffer_overwrites_oldest():
    replay = EpisodeReplay(4, SPEC)
    replay.add(episodes(0, 3))
    replay.add(episodes(3, 3))  # 0 and 1 are overwritten by 4 and 5
    assert len(replay) == 4 and replay.total_added == 6
    sample = replay.sample(np.random.default_rng(0), 200)
    assert set(sample["length"].tolist()) == {2, 3, 4, 5}
    assert (sample["obs"][:, 0, 0] == sample["length"]).all()


def test_state_round_trip_restores_contents_and_position():
    replay = EpisodeReplay(5, SPEC)
    replay.add(episodes(0, 7))
    restored = EpisodeReplay(5, SPEC)
    restored.set_state(replay.get_state())
    assert len(restored) == 5 and restored.total_added == 7
    a = replay.sample(np.random.default_rng(1), 10)
    b = restored.sample(np.random.default_rng(1), 10)
    np.testing.assert_array_equal(a["obs"], b["obs"])
    replay.add(episodes(100, 1))
    restored.add(episodes(100, 1))  # the next write goes to the same slot
    a = replay.sample(np.random.default_rng(2), 50)
    b = restored.sample(np.random.default_rng(2), 50)
    np.testing.assert_array_equal(a["length"], b["length"])
    assert 100 in a["length"] and 2 not in a["length"]  # 2 was the oldest, overwritten


def test_errors():
    with pytest.raises(ValueError, match="capacity"):
        EpisodeReplay(0, SPEC)
    with pytest.raises(ValueError, match="empty"):
        EpisodeReplay(2, SPEC).sample(np.random.default_rng(0), 1)
    with pytest.raises(KeyError, match="length"):
        EpisodeReplay(2, SPEC).add({"obs": np.zeros((1, 3, 2))})
