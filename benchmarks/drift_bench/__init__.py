"""The parts of ``benchmarks/detection.py``: streams, contenders, the run and the report.

- :mod:`.streams`: seeded synthetic streams with known drift points (numeric,
  categorical, joint, label shift, stationary);
- :mod:`.concept`: concept drift with unchanged inputs (river's SEA, Agrawal,
  STAGGER, Hyperplane) seen through a model trained before the drift, then frozen;
- :mod:`.suite`: which detectors the monitor runs on a model and how the
  false-alarm budget is split between them (the one place that says so);
- :mod:`.contenders`: one small adapter per detector, driftline's and river's;
- :mod:`.harness`: feeds contenders, scores false alarms, delays and speed;
- :mod:`.report`: the table, the JSON rows and the verdict.
"""
