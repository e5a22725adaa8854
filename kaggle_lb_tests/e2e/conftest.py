import os

import pytest

from kaggle_lb_tests.postgres import POSTGRES_URL_VAR


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL the end-to-end tests create their databases from: they run on it only."""
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set: the end-to-end tests run on PostgreSQL only")
    return url
