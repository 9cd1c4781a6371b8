"""Experiments: sweeps over algorithms, seeds and variants, and paper-style figures."""
