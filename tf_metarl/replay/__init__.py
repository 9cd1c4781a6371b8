"""Episode (sequence) replay."""

from tf_metarl.replay.episode_replay import EpisodeReplay
