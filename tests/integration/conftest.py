import pytest


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    """Every integration test starts from empty tables and an empty Redis namespace."""
