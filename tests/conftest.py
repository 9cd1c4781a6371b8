"""Shared test settings: quiet TensorFlow, single-threaded ops (deterministic, fast)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
