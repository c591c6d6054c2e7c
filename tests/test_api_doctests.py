"""Every example in the notebook API's docstrings runs and shows what it says."""
from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import tinylm

MODULES = ["tinylm.api", "tinylm.api.model", "tinylm.api.run", "tinylm.api.toplevel", "tinylm.api.evaluation"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_every_public_function_and_class_has_a_docstring_with_an_example():
    api = importlib.import_module("tinylm.api")
    for name in api.__all__:
        obj = getattr(api, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        assert obj.__doc__, name
        if name != "Score":   # a result type, shown by Model.score's example
            assert ">>>" in obj.__doc__, name
    for cls in (tinylm.Model, tinylm.Run):
        for member, value in vars(cls).items():
            if member.startswith("_"):
                continue
            target = value.fget if isinstance(value, property) else value
            if callable(target):
                assert target.__doc__, f"{cls.__name__}.{member}"
