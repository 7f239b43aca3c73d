"""Drift in what a model is given: its features' distributions, one by one and together, and their quality."""
