import pytest

from tests.e2e.demo_stack import demo_stack  # noqa: F401  (a session fixture of the API-wide tests)


@pytest.fixture(autouse=True)
def _clean(clean: None) -> None:
    """Every end-to-end test starts from empty tables and an empty Redis namespace."""
