"""Run logs after a restore: CSV rows and TensorBoard events past the checkpoint go."""

import tensorflow as tf

from tf_metarl.training.logging import CsvLog, drop_events_after


def _write_scalars(log_dir, steps):
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for step in steps:
            tf.summary.scalar("loss", float(step), step=step)
    writer.close()


def _steps(log_dir):
    return sorted(event.step for path in sorted(log_dir.glob("*tfevents*"))
                  for event in tf.compat.v1.train.summary_iterator(str(path))
                  if event.HasField("summary"))


def test_csv_rows_after_the_checkpoint_are_dropped(tmp_path):
    log = CsvLog(str(tmp_path / "train.csv"))
    for trials in (4, 8, 12):
        log.append({"trials": trials, "loss": trials / 10})
    log.drop_rows_after("trials", 8)
    assert [row["trials"] for row in log.read_rows()] == ["4", "8"]
    log.append({"trials": 12, "loss": 0.5, "extra": 1})  # a new key rewrites the header
    assert log.read_rows()[-1] == {"trials": "12", "loss": "0.5", "extra": "1"}
    assert log.read_rows()[0]["extra"] == ""


def test_events_after_the_step_are_dropped_and_emptied_files_removed(tmp_path):
    _write_scalars(tmp_path, [10, 20, 30])
    first = list(tmp_path.glob("*tfevents*"))
    _write_scalars(tmp_path, [40, 50])  # a second attempt, all of it after the cut
    assert _steps(tmp_path) == [10, 20, 30, 40, 50]

    drop_events_after(str(tmp_path), 20)

    assert _steps(tmp_path) == [10, 20]
    assert list(tmp_path.glob("*tfevents*")) == first
    assert not list(tmp_path.glob("*.tmp"))
    drop_events_after(str(tmp_path), 20)  # nothing more to drop: left as it is
    assert _steps(tmp_path) == [10, 20]


def test_a_file_cut_mid_record_keeps_its_complete_records(tmp_path):
    _write_scalars(tmp_path, [1, 2, 3])
    (path,) = tmp_path.glob("*tfevents*")
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # the writer was killed inside the last record

    drop_events_after(str(tmp_path), 100)

    assert _steps(tmp_path) == [1, 2]


def test_a_missing_folder_is_nothing_to_drop(tmp_path):
    drop_events_after(str(tmp_path / "tensorboard"), 0)
    assert not (tmp_path / "tensorboard").exists()
