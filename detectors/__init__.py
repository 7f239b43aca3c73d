"""Online drift detectors: pure, deterministic, no I/O."""
