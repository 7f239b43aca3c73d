"""The monitor: a faust app whose agents decode, call detectors and produce."""
