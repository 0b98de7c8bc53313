"""The HiVES pages: versions with the train form (errors come back in place), a version's metrics beside the base
model with its loss curve, pinning, and the profile page's per-theory drawing."""

import re

import pytest
import torch

from common.services import job_run
from labeling.services.taxonomy import taxonomy_load
from modeling.ml.hives.train import TrainConfig
from modeling.models import EmbeddingModel
from modeling.services.hives import HELD_OUT_FRACTION, hives_base_version_create
from tests.modeling.hives_helpers import import_platform_texts, tiny_model_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def labelled(db, settings, tiny_model, tmp_path, researcher):
    settings.VALUEFLOW_HIVES_BASE_MODEL = str(tiny_model)
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 24
    taxonomy_load()
    import_platform_texts(tmp_path / "imports", user=researcher)


def test_the_versions_page_starts_training_and_shows_form_errors_in_place(labelled, researcher_client):
    page = researcher_client.get("/modeling/hives/")
    assert page.status_code == 200 and b"No version yet" in page.content

    bad = researcher_client.post("/modeling/hives/", {"stage1_epochs": "0", "stage2_steps": "0", "tau": "0.1",
                                                      "train_layers": "0", "held_out_fraction": "0.2"},
                                 HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert b'id="hives-train"' in bad.content and b"greater than or equal to 0.05" in bad.content
    assert not EmbeddingModel.objects.exists()

    started = researcher_client.post("/modeling/hives/", {"stage1_epochs": "0.5", "stage2_steps": "0", "tau": "0.5",
                                                          "train_layers": "1", "held_out_fraction": "0.2",
                                                          "seed": "3"})
    version = EmbeddingModel.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/modeling/hives/{version.pk}/"
    assert version.seed == 3 and version.hyperparameters["stage1_epochs"] == 0.5
    assert version.hyperparameters["tau"] == 0.5 and version.hyperparameters["train_layers"] == 1

    live = researcher_client.get(f"/modeling/hives/{version.pk}/", HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 2s"' in live.content, "the live part polls while the version trains"
    job_run(job_id=version.job_id)
    detail = researcher_client.get(f"/modeling/hives/{version.pk}/")
    assert detail.status_code == 200
    assert b'data-testid="loss-curve"' in detail.content and b"<polyline" in detail.content
    assert b"rank_acc" in detail.content and b"Base model" in detail.content
    assert b'hx-trigger="every 2s"' not in detail.content, "a finished version stops polling"


def test_the_train_form_starts_at_the_training_defaults(labelled, researcher_client):
    defaults = TrainConfig()
    page = researcher_client.get("/modeling/hives/").content.decode()
    shown = dict(re.findall(r'name="(stage1_epochs|stage2_steps|tau|train_layers|held_out_fraction)" value="([^"]*)"',
                            page))
    assert shown == {"stage1_epochs": str(defaults.stage1_epochs), "stage2_steps": str(defaults.stage2_steps),
                     "tau": str(defaults.tau), "train_layers": str(defaults.train_layers),
                     "held_out_fraction": str(HELD_OUT_FRACTION)}

    researcher_client.post("/modeling/hives/", shown)  # the form submitted as it came
    sent = EmbeddingModel.objects.get().hyperparameters
    assert (sent["stage1_epochs"], sent["tau"], sent["train_layers"], sent["lr"]) == (
        defaults.stage1_epochs, defaults.tau, defaults.train_layers, defaults.lr)


def test_pinning_from_the_page(labelled, researcher_client):
    version, job = hives_base_version_create()
    job_run(job_id=job.pk)
    response = researcher_client.post(f"/modeling/hives/{version.pk}/pin/", {"pinned": "1"}, follow=True)
    assert response.status_code == 200 and b"is pinned and in use" in response.content
    version.refresh_from_db()
    assert version.is_pinned and version.is_current
    assert researcher_client.get(f"/modeling/hives/{version.pk}/pin/").status_code == 405
    assert researcher_client.get("/modeling/hives/999999/").status_code == 404


def test_the_profile_page_draws_one_chart_per_theory(labelled, researcher_client):
    no_version = researcher_client.post("/modeling/profile/", {"texts": "care help family", "top": "2"},
                                        HTTP_HX_REQUEST="true")
    assert no_version.status_code == 422 and b"No HiVES version is in use yet" in no_version.content

    version, job = hives_base_version_create()
    job_run(job_id=job.pk)
    assert researcher_client.get("/modeling/profile/").status_code == 200
    response = researcher_client.post(
        "/modeling/profile/", {"texts": "care help family\n\ndonate charity give", "top": "2"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="text-profile"') == 2 and 'data-testid="group-profile"' in html
    for theory in ("svt", "mft", "duties", "rights"):
        assert f'data-theory="{theory}"' in html
    assert html.count("<svg") == 3 * 4, "two texts and the group, four theories each"
    assert "<rect" in html
    empty = researcher_client.post("/modeling/profile/", {"texts": "  \n ", "top": "2"}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422


def test_hives_pages_are_for_researchers(annotator_client):
    assert annotator_client.get("/modeling/hives/").status_code == 403
    assert annotator_client.get("/modeling/profile/").status_code == 403
