"""Evaluation: the champion/challenger gate and the reference profile a version is registered with."""
