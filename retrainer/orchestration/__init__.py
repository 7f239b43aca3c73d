"""Orchestration: the worker's loop, one retrain from window to version, shadow runs, rollbacks, the trainer's child process."""
