"""The examples in the producers' docstrings run as part of the suite."""

import doctest
import importlib
import pkgutil

import pytest

import driftline.producers as package

MODULES = sorted(
    ["driftline.producers"] + [f"driftline.producers.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
