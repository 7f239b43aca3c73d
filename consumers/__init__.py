"""The monitor: a batch worker per consumer-group member that decodes, calls detectors and produces."""
