"""GET /api/v1/texts/ (search, value filter, pagination) and /api/v1/texts/<id>/; researchers only."""

import pytest

from labeling.models import Text, Theory, Value
from labeling.services.imports import texts_import

URL = "/api/v1/texts/"


@pytest.fixture
def texts(db, tmp_path) -> None:
    svt = Theory.objects.create(key="svt", name="Schwartz")
    for key in ("benevolence", "power"):
        Value.objects.create(theory=svt, key=key, name=key.title(), definition="-", level=3, is_target=True)
    rows = "text,theory,value,direction,intensity\n"
    rows += "".join(f"Helping neighbour {i}.,pvq,Benevolence,supports,{i}\n" for i in range(5))
    rows += "Taking control of the board.,svt,power,+1,8\nHelping neighbour 0.,svt,power,opposes,-2\n"
    path = tmp_path / "values.csv"
    path.write_text(rows)
    texts_import(format="csv", paths=[path])


def test_list_is_paginated_with_pools(researcher_api, texts):
    body = researcher_api.get(URL, {"limit": 2}).json()
    assert body["count"] == 6
    assert len(body["results"]) == 2 and body["next"]
    first = researcher_api.get(URL, {"q": "board"}).json()["results"][0]
    assert first["content"] == "Taking control of the board."
    assert first["pools"] == [
        {
            "value": "svt:power", "value_name": "Power", "direction": 1, "prior_intensity": 8.0,
            "intensity": None, "ci_low": None, "ci_high": None, "source": "values.csv",
        }
    ]


def test_filter_by_value_and_search(researcher_api, texts):
    benevolence = researcher_api.get(URL, {"value": "svt:benevolence"}).json()
    assert benevolence["count"] == 5
    both = researcher_api.get(URL, {"value": "svt:power", "q": "neighbour"}).json()
    assert [t["content"] for t in both["results"]] == ["Helping neighbour 0."]
    assert {p["value"]: p["direction"] for p in both["results"][0]["pools"]} == {
        "svt:benevolence": 1, "svt:power": -1,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("benevolence", "Cannot filter by value: value 'benevolence' is not written as theory:key"),
        ("svt:greed", "Cannot filter by value: unknown value 'greed' in theory 'svt'."),
    ],
)
def test_a_bad_value_filter_is_a_clear_400(researcher_api, texts, value, message):
    response = researcher_api.get(URL, {"value": value})
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_detail_and_missing_text(researcher_api, texts):
    text = Text.objects.get(content="Taking control of the board.")
    body = researcher_api.get(f"{URL}{text.pk}/").json()
    assert body["id"] == text.pk and body["metadata"] == {"imported_from": "values.csv"}
    missing = researcher_api.get(f"{URL}999999/")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No text has id 999999."


def test_annotators_get_403(annotator_api, texts):
    text = Text.objects.first()
    assert annotator_api.get(URL).status_code == 403
    assert annotator_api.get(f"{URL}{text.pk}/").status_code == 403
