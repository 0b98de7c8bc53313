import re

import pytest


@pytest.mark.django_db
def test_api_docs_load_every_asset_from_the_platform_itself(researcher_client):
    response = researcher_client.get("/api/docs/")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert assets, "the docs page should load Swagger UI assets"
    assert all(asset.startswith("/static/") for asset in assets), assets


@pytest.mark.django_db
def test_the_openapi_schema_is_served(researcher_client):
    response = researcher_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert b"/api/v1/campaigns/" in response.content
