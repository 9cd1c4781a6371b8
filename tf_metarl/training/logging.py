"""Logs that survive resumes: CSV rows and TensorBoard events past a checkpoint are dropped
on restore, so the resumed run logs them once."""

from __future__ import annotations

import csv
import os

import tensorflow as tf


class CsvLog:
    """Appends dict rows to a CSV file; new keys extend the header (the file is rewritten)."""

    def __init__(self, path: str):
        self.path = path
        self._header: list[str] = []
        if os.path.exists(path):
            self._header = list(self.read_rows()[0].keys()) if self.read_rows() else []

    def read_rows(self) -> list[dict[str, str]]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def append(self, row: dict) -> None:
        new_keys = [k for k in row if k not in self._header]
        if new_keys or not os.path.exists(self.path):
            rows = self.read_rows()
            self._header = self._header + new_keys
            self._write(rows + [row])
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._header).writerow(row)

    def drop_rows_after(self, key: str, value: float) -> None:
        """Removes rows whose ``key`` exceeds ``value`` (logged after the checkpoint)."""
        rows = self.read_rows()
        kept = [r for r in rows if float(r[key]) <= value]
        if len(kept) != len(rows):
            self._write(kept)

    def _write(self, rows) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._header, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)


def drop_events_after(log_dir: str, step: int) -> None:
    """Removes TensorBoard summaries whose step exceeds ``step`` from the event files in
    ``log_dir``.

    Event files are TFRecord files of ``Event`` protos. Each file with late summaries is
    rewritten without them, or deleted when none of its summaries is left. A file cut off
    mid-record (its writer was killed) keeps the records before the cut.
    """
    if not os.path.isdir(log_dir):
        return
    for name in sorted(os.listdir(log_dir)):
        if "tfevents" not in name:
            continue
        path = os.path.join(log_dir, name)
        records, cut = _read_records(path)
        parsed = [(record, tf.compat.v1.Event.FromString(record)) for record in records]
        kept = [(record, event) for record, event in parsed
                if not (event.HasField("summary") and event.step > step)]
        if len(kept) == len(records) and not cut:
            continue
        if not any(event.HasField("summary") for _, event in kept):
            os.remove(path)
            continue
        # The temporary name lacks "tfevents", so TensorBoard never reads a half-written copy.
        tmp = os.path.join(log_dir, "rewriting.tmp")
        with tf.io.TFRecordWriter(tmp) as writer:
            for record, _ in kept:
                writer.write(record)
        os.replace(tmp, path)


def _read_records(path: str) -> tuple[list[bytes], bool]:
    """The file's complete records, and whether it ended in a partial one."""
    records = []
    iterator = iter(tf.data.TFRecordDataset(path))
    while True:
        try:
            records.append(next(iterator).numpy())
        except StopIteration:
            return records, False
        except tf.errors.DataLossError:
            return records, True
