"""POST /api/v1/imports/ starts an import job (202); GET lists imported files; researchers only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from common.models import Job
from common.services import job_run
from labeling.models import ImportRecord, Text, Theory, Value

URL = "/api/v1/imports/"


@pytest.fixture
def care_harm(db) -> Value:
    mft = Theory.objects.create(key="mft", name="Moral Foundations")
    return Value.objects.create(theory=mft, key="care-harm", name="Care/Harm", definition="-", level=1, is_target=True)


def _file(name: str = "care-harm_mft_flag_aggregated.csv", content: str = "text,final_rating\nKind words.,6\n"):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_post_starts_a_job_and_answers_202_with_its_url(researcher_api, researcher, care_harm):
    response = researcher_api.post(URL, {"format": "vidb", "files": [_file()]}, format="multipart")

    assert response.status_code == 202
    job = Job.objects.get()
    assert response.json() == {"job_id": job.pk, "job_url": f"http://testserver/api/v1/jobs/{job.pk}/"}
    assert (job.kind, job.created_by, job.params["format"]) == ("labeling.import_texts", researcher, "vidb")

    assert job_run(job_id=job.pk).status == "succeeded"
    assert Text.objects.get().content == "Kind words."
    job_view = researcher_api.get(response.json()["job_url"]).json()
    assert job_view["status"] == "succeeded" and job_view["result"]["texts_created"] == 1


def test_get_lists_imported_files_newest_first(researcher_api, researcher, care_harm):
    for content in ("text,final_rating\nOne.,1\n", "text,final_rating\nOne.,1\nTwo.,2\n"):
        researcher_api.post(URL, {"format": "vidb", "files": [_file(content=content)]}, format="multipart")
    for job in Job.objects.order_by("id"):
        job_run(job_id=job.pk)

    body = researcher_api.get(URL).json()

    assert body["count"] == 2
    newest = body["results"][0]
    assert newest["file_name"] == "care-harm_mft_flag_aggregated.csv"
    assert (newest["rows"], newest["texts_created"], newest["pool_items_created"]) == (2, 1, 1)
    assert newest["imported_by"] == "res" and newest["format"] == "vidb"
    assert ImportRecord.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"format": "vidb"}, "files"),
        ({"format": "xml", "files": "one"}, "format"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(researcher_api, care_harm, data, fragment):
    if data.get("files") == "one":
        data = {**data, "files": [_file()]}
    response = researcher_api.post(URL, data, format="multipart")
    assert response.status_code == 400
    assert fragment in response.json()["extra"]["fields"]
    assert not Job.objects.exists()


def test_touche_upload_without_its_labels_file_is_refused(researcher_api, care_harm):
    upload = _file("arguments-validation.tsv", "Argument ID\tConclusion\tStance\tPremise\n")
    response = researcher_api.post(URL, {"format": "touche23", "files": [upload]}, format="multipart")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "The upload was refused: arguments-validation.tsv: upload labels-validation.tsv with it"
    )


def test_annotators_get_403(annotator_api, care_harm):
    assert annotator_api.get(URL).status_code == 403
    assert annotator_api.post(URL, {"format": "vidb", "files": [_file()]}, format="multipart").status_code == 403
    assert not Job.objects.exists()
