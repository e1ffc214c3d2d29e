import pytest


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    """Every end-to-end test starts from empty tables and an empty Redis namespace."""
