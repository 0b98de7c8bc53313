"""The import page (upload → job → progress → recent imports) and the text browser, as researchers use them."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from common.models import Job
from common.services import job_run
from labeling.models import ImportRecord, PoolItem, Text, Theory, Value
from labeling.services.imports import texts_import

IMPORT_URL = "/imports/"


@pytest.fixture
def care_harm(db) -> Value:
    mft = Theory.objects.create(key="mft", name="Moral Foundations")
    Value.objects.create(theory=mft, key="fairness-cheating", name="Fairness/Cheating", definition="-", level=1)
    return Value.objects.create(theory=mft, key="care-harm", name="Care/Harm", definition="-", level=1, is_target=True)


def _vidb_upload(content: str = "text,final_rating\nShe fed the stray cat.,7\nHe kicked the cat.,-8\n"):
    return SimpleUploadedFile("care-harm_mft_flag_aggregated.csv", content.encode(), content_type="text/csv")


def test_the_import_page_is_for_researchers_only(researcher_client, annotator_client, client, db):
    page = researcher_client.get(IMPORT_URL)
    assert page.status_code == 200
    assert reverse("labeling:import_upload") == IMPORT_URL
    assert b'enctype="multipart/form-data"' in page.content
    assert b"care-harm_mft_flag_aggregated.csv" in page.content  # the VIDB format is explained by example
    assert annotator_client.get(IMPORT_URL).status_code == 403
    assert annotator_client.post(IMPORT_URL, {"format": "vidb", "files": [_vidb_upload()]}).status_code == 403
    assert client.get(IMPORT_URL).status_code == 302
    assert not Job.objects.exists()


def test_upload_starts_a_job_whose_run_imports_the_files(researcher_client, researcher, care_harm, settings):
    response = researcher_client.post(IMPORT_URL, {"format": "vidb", "files": [_vidb_upload()]})

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{IMPORT_URL}?job={job.pk}"
    assert (job.kind, job.status, job.created_by) == ("labeling.import_texts", "pending", researcher)
    stored = Path(job.params["paths"][0])
    assert stored.name == "care-harm_mft_flag_aggregated.csv"
    assert stored.parent.parent == Path(settings.MEDIA_ROOT) / "imports"
    assert job.params["format"] == "vidb" and job.params["user_id"] == researcher.pk

    finished = job_run(job_id=job.pk)

    assert finished.status == "succeeded", finished.error
    assert finished.result["texts_created"] == 2
    assert set(PoolItem.objects.values_list("value__key", "direction")) == {("care-harm", 1), ("care-harm", -1)}
    assert ImportRecord.objects.get().imported_by == researcher
    page = researcher_client.get(response["Location"])
    assert f'id="job-{job.pk}"'.encode() in page.content
    assert b"Succeeded" in page.content
    assert b"care-harm_mft_flag_aggregated.csv" in page.content


def test_a_job_with_bad_rows_fails_with_the_problems_and_imports_nothing(researcher_client, care_harm):
    researcher_client.post(IMPORT_URL, {"format": "vidb", "files": [_vidb_upload("text,final_rating\nA text.,99\n")]})
    job = job_run(job_id=Job.objects.get().pk)

    assert job.status == "failed"
    assert "care-harm_mft_flag_aggregated.csv:2: final_rating 99 is outside [-10, 10]" in job.error
    assert not Text.objects.exists()
    page = researcher_client.get(f"{IMPORT_URL}?job={job.pk}")
    assert b"final_rating 99 is outside [-10, 10]" in page.content


def test_while_the_job_runs_the_records_table_refreshes_itself(researcher_client, care_harm):
    researcher_client.post(IMPORT_URL, {"format": "vidb", "files": [_vidb_upload()]})
    job = Job.objects.get()

    polling = researcher_client.get(f"{IMPORT_URL}?job={job.pk}", headers={"HX-Request": "true"})
    assert polling.status_code == 200
    assert b'id="import-records"' in polling.content and b"every 2s" in polling.content
    assert b"<form" not in polling.content  # the table alone

    job_run(job_id=job.pk)
    done = researcher_client.get(f"{IMPORT_URL}?job={job.pk}", headers={"HX-Request": "true"})
    assert b"every 2s" not in done.content
    assert b"care-harm_mft_flag_aggregated.csv" in done.content


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"format": "vidb"}, "Choose at least one file."),
        ({"format": "touche23", "files": ["csv"]}, "a touche23 import takes .tsv files"),
        ({"format": "yaml", "files": ["csv"]}, "Select a valid choice. yaml is not one of the available choices."),
    ],
)
def test_invalid_uploads_re_render_the_form_with_the_reason(researcher_client, care_harm, data, error):
    if data.get("files") == ["csv"]:
        data = {**data, "files": [_vidb_upload()]}
    response = researcher_client.post(IMPORT_URL, data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Job.objects.exists()


def test_files_over_the_size_limit_are_refused(researcher_client, care_harm, settings):
    settings.VALUEFLOW_MAX_IMPORT_BYTES = 20
    response = researcher_client.post(IMPORT_URL, {"format": "vidb", "files": [_vidb_upload()]})
    assert "is over the limit of 20 bytes" in response.content.decode()
    assert not Job.objects.exists()


# --- the text browser ------------------------------------------------------------------------------------------


@pytest.fixture
def imported_texts(care_harm, tmp_path) -> None:
    rows = "".join(f"Story {i} about a cat,mft,care-harm,supports,{i % 10}\n" for i in range(30))
    rows += "A story about a fair trade,mft,fairness-cheating,opposes,-4\n"
    path = tmp_path / "stories.csv"
    path.write_text("text,theory,value,direction,intensity\n" + rows)
    texts_import(format="csv", paths=[path])


def test_text_list_searches_filters_and_pages(researcher_client, imported_texts):
    first = researcher_client.get("/texts/")
    assert first.status_code == 200
    assert first.context["page"].paginator.count == 31
    assert len(first.context["page"]) == 25
    assert b"mft:fairness-cheating" in first.content

    second = researcher_client.get("/texts/?page=2")
    assert len(second.context["page"]) == 6

    searched = researcher_client.get("/texts/", {"q": "FAIR TRADE"})
    assert [t.content for t in searched.context["page"]] == ["A story about a fair trade"]
    assert "−" in searched.content.decode()  # the opposes direction is shown next to the pool

    filtered = researcher_client.get("/texts/", {"value": "mft:care/harm"})
    assert filtered.context["page"].paginator.count == 30
    assert filtered.context["value_key"] == "mft:care-harm"


def test_text_list_explains_an_unknown_value_filter(researcher_client, imported_texts):
    response = researcher_client.get("/texts/", {"value": "mft:kindness-to-robots"})
    assert response.status_code == 200
    assert "No such value filter: unknown value &#x27;kindness-to-robots&#x27; in theory &#x27;mft&#x27;" in (
        response.content.decode()
    )
    assert response.context["page"].paginator.count == 0


def test_text_list_answers_htmx_with_the_results_only(researcher_client, imported_texts):
    response = researcher_client.get("/texts/", {"q": "trade"}, headers={"HX-Request": "true"})
    assert b'id="text-results"' in response.content
    assert b"<form" not in response.content


def test_text_detail_shows_the_pools_and_metadata(researcher_client, imported_texts):
    text = Text.objects.get(content="A story about a fair trade")
    response = researcher_client.get(f"/texts/{text.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "A story about a fair trade" in content
    assert "Fairness/Cheating" in content and "Opposes" in content and "-4.00" in content
    assert "stories.csv" in content  # where it was imported from
    assert researcher_client.get("/texts/999999/").status_code == 404


def test_text_pages_are_for_researchers_only(annotator_client, imported_texts):
    text = Text.objects.first()
    assert annotator_client.get("/texts/").status_code == 403
    assert annotator_client.get(f"/texts/{text.pk}/").status_code == 403
