"""POST /api/v1/profile answers for a text of each theory with per-theory values; researchers only; clear 4xx for bad
input or no version in use. The HiVES version API lists, trains and pins."""

import pytest
import torch

from common.services import job_run
from labeling.services.taxonomy import taxonomy_load
from modeling.models import EmbeddingModel
from modeling.services.hives import hives_base_version_create
from tests.modeling.hives_helpers import PLATFORM_VALUES, import_platform_texts, tiny_model_dir

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


@pytest.fixture
def version_in_use(labelled, researcher):
    version, job = hives_base_version_create(created_by=researcher)
    job_run(job_id=job.pk)
    return version


def test_the_profile_endpoint_answers_for_a_text_in_each_theory(version_in_use, researcher_api):
    texts = {theory: " ".join(words.split()[:3]) for (theory, _), words in PLATFORM_VALUES.items()}
    response = researcher_api.post("/api/v1/profile", {"texts": list(texts.values()), "top": 2}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"]["id"] == version_in_use.pk
    assert len(body["texts"]) == 4
    for (theory, text), result in zip(texts.items(), body["texts"], strict=True):
        assert result["text"] == text
        assert set(result["theories"]) == {"svt", "mft", "duties", "rights"}
        top = result["theories"][theory][0]
        assert top["value"].startswith(f"{theory}:")
        assert set(top) == {"value", "name", "similarity", "direction", "intensity", "intensity_source"}
        assert len(result["theories"][theory]) == 2
    assert set(body["group"]) == {"svt", "mft", "duties", "rights"}
    assert {"top_share", "similarity", "intensity"} <= set(body["group"]["svt"][0])


def test_one_text_has_no_group_profile_and_the_slash_form_works(version_in_use, researcher_api):
    response = researcher_api.post("/api/v1/profile/", {"texts": ["care help family"]}, format="json")
    assert response.status_code == 200
    assert response.json()["group"] is None
    assert len(response.json()["texts"][0]["theories"]["svt"]) == 3, "three values per theory by default"


def test_bad_profile_requests_are_refused_with_the_field_named(version_in_use, researcher_api, annotator_api):
    response = researcher_api.post("/api/v1/profile", {"texts": []}, format="json")
    assert response.status_code == 400 and "texts" in response.json()["extra"]["fields"]
    response = researcher_api.post("/api/v1/profile", {"texts": ["x"], "top": 50}, format="json")
    assert response.status_code == 400 and "top" in response.json()["extra"]["fields"]
    assert annotator_api.post("/api/v1/profile", {"texts": ["x"]}, format="json").status_code == 403


def test_profiling_before_any_version_answers_409(labelled, researcher_api):
    response = researcher_api.post("/api/v1/profile", {"texts": ["care help family"]}, format="json")
    assert response.status_code == 409
    assert "No HiVES version is in use yet" in response.json()["message"]


def test_versions_can_be_listed_trained_and_pinned_over_the_api(labelled, researcher_api):
    response = researcher_api.post(
        "/api/v1/hives/versions/train/",
        {"hyperparameters": {"stage1_steps": 3, "batch_size": 8, "n_positives": 2, "seed": 4}},
        format="json",
    )
    assert response.status_code == 202, response.content
    version_id = response.json()["version"]["id"]
    assert response.json()["version"]["status"] == "training"
    assert response.json()["job_url"].endswith(f"/api/v1/jobs/{response.json()['job_id']}/")
    again = researcher_api.post("/api/v1/hives/versions/train/", {}, format="json")
    assert again.status_code == 409 and again.json()["extra"]["version_id"] == version_id

    job_run(job_id=response.json()["job_id"])
    listed = researcher_api.get("/api/v1/hives/versions/").json()
    assert listed["count"] == 1
    # Promoted (and in use) exactly when it beat the untuned base model on its held-out texts.
    first = listed["results"][0]
    assert first["status"] in {"promoted", "rejected"}
    assert first["is_current"] is (first["status"] == "promoted")
    detail = researcher_api.get(f"/api/v1/hives/versions/{version_id}/").json()
    assert [point[0] for point in detail["loss_curve"]] == [1, 2, 3]
    assert detail["metrics"]["rank_acc"] is not None and detail["base_metrics"]["rank_acc"] is not None

    pinned = researcher_api.post(f"/api/v1/hives/versions/{version_id}/pin/", {}, format="json")
    assert pinned.json()["is_pinned"] is True
    if first["status"] == "promoted":
        assert pinned.status_code == 200, "its embeddings exist: it is used at once"
    else:
        assert pinned.status_code == 202, "a rejected version is embedded first"
        job_run(job_id=pinned.json()["embed_job_id"])
    assert researcher_api.get(f"/api/v1/hives/versions/{version_id}/").json()["is_current"] is True
    unpinned = researcher_api.post(f"/api/v1/hives/versions/{version_id}/pin/", {"pinned": False}, format="json")
    assert unpinned.json()["is_pinned"] is False
    assert researcher_api.get("/api/v1/hives/versions/999999/").status_code == 404


def test_bad_hyperparameters_are_refused_before_anything_is_stored(labelled, researcher_api):
    response = researcher_api.post(
        "/api/v1/hives/versions/train/", {"hyperparameters": {"warmup": 0.5}}, format="json"
    )
    assert response.status_code == 400
    assert "unknown HiVES hyperparameter(s) warmup" in response.json()["message"]
    assert not EmbeddingModel.objects.exists()
