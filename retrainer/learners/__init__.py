"""Learners: the model interface, the default trainer and its learners, and adapters for river and scikit-learn-style estimators."""
