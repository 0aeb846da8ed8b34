"""Shared fixtures: the built-in parameter tree, loaded once."""

from __future__ import annotations

import pytest

from jamsos.rules.tree import ParameterTree, load_parameters


@pytest.fixture(scope="session")
def tree() -> ParameterTree:
    return load_parameters()
