"""A pass-through transformer that keeps what it was fitted on: the frame's column names and dtypes."""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin


class DtypeProbe(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        # None for a matrix: the ColumnTransformer after it then says why it cannot take one.
        self.dtypes_ = {str(c): str(t) for c, t in X.dtypes.items()} if hasattr(X, "dtypes") else None
        return self

    def transform(self, X):
        return X
