"""CSV logs that survive resumes: rows past a checkpoint are dropped on restore."""

from __future__ import annotations

import csv
import os


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
