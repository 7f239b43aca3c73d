"""Drift in what a model gives back and how it fares: the predicted classes, errors and residuals against labels."""
