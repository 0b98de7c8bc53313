"""Universal fixtures: users and API/HTML clients for each role, and a temporary MEDIA_ROOT."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create

PASSWORD = "valueflow-test-pass"


@pytest.fixture(autouse=True)
def _isolated_files_and_cache(settings, tmp_path):
    """Each test gets its own media and artefact folders, and starts with an empty cache: the cache is a real
    Redis database that outlives a test (throttles, rate limits, cached reads would leak between tests)."""
    from django.core.cache import cache

    from labeling.services.sampling import process_facts_clear

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELING_ARTIFACTS_DIR = tmp_path / "artifacts"
    cache.clear()
    process_facts_clear()  # the campaigns' fixed facts each process keeps besides the cache


@pytest.fixture
def annotator(db) -> User:
    return user_create(username="ann", password=PASSWORD, role=User.Role.ANNOTATOR)


@pytest.fixture
def other_annotator(db) -> User:
    return user_create(username="ann2", password=PASSWORD, role=User.Role.ANNOTATOR)


@pytest.fixture
def researcher(db) -> User:
    return user_create(username="res", password=PASSWORD, role=User.Role.RESEARCHER)


@pytest.fixture
def platform_admin(db) -> User:
    return user_create(username="adm", password=PASSWORD, role=User.Role.ADMIN)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api_client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def annotator_client(annotator) -> Client:
    return _client_for(annotator)


@pytest.fixture
def researcher_client(researcher) -> Client:
    return _client_for(researcher)


@pytest.fixture
def admin_role_client(platform_admin) -> Client:
    return _client_for(platform_admin)


@pytest.fixture
def annotator_api(annotator) -> APIClient:
    return _api_client_for(annotator)


@pytest.fixture
def researcher_api(researcher) -> APIClient:
    return _api_client_for(researcher)


@pytest.fixture
def admin_api(platform_admin) -> APIClient:
    return _api_client_for(platform_admin)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()
