"""Every model names its rows for people (the admin, logs, shells): no "Judgment object (7)"."""

import pytest
from django.apps import apps
from django.db import models

PROJECT_APPS = ("accounts", "common", "labeling", "modeling")


@pytest.mark.parametrize(
    "model",
    [model for app in PROJECT_APPS for model in apps.get_app_config(app).get_models()],
    ids=lambda model: model.__name__,
)
def test_every_model_says_what_a_row_is(model):
    assert model.__str__ is not models.Model.__str__, f"{model.__name__} lacks __str__"
