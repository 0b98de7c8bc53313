"""Value profiles under the HiVES version in use (here the untuned tiny encoder, embedded through the base-version
service): per theory the nearest values with similarity, direction and intensity; group profiles; clear refusals."""

import pytest
import torch

from common.exceptions import ApplicationError
from common.services import job_run
from labeling.models import PoolItem, Value
from labeling.services.taxonomy import taxonomy_load
from modeling.services.hives import hives_base_version_create
from modeling.services.profiling import profile_texts
from tests.modeling.hives_helpers import PLATFORM_VALUES, import_platform_texts, tiny_model_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def version_in_use(db, settings, tiny_model, tmp_path, researcher):
    settings.VALUEFLOW_HIVES_BASE_MODEL = str(tiny_model)
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 24
    taxonomy_load()
    import_platform_texts(tmp_path / "imports", user=researcher, texts_per_value=9)
    # Published intensities of one value (stand-ins for its fits) give it a judge; the others use neighbours.
    for item in PoolItem.objects.filter(value__theory__key="mft", value__key="kindness"):
        PoolItem.objects.filter(pk=item.pk).update(intensity=-8.0 if item.direction == -1 else 7.0)
    version, job = hives_base_version_create(created_by=researcher)
    job_run(job_id=job.pk)
    version.refresh_from_db()
    assert version.is_current
    return version


def test_a_text_gets_values_of_every_theory(version_in_use):
    profile = profile_texts(texts=["gentle kind warm comfort"], top=2)
    assert profile.version == version_in_use and profile.group is None
    (text,) = profile.texts
    assert list(text.theories) == ["svt", "mft", "duties", "rights"]
    for theory, scores in text.theories.items():
        assert len(scores) == 2
        assert all(score.theory == theory and score.value.startswith(f"{theory}:") for score in scores)
        assert scores[0].similarity >= scores[1].similarity
        for score in scores:
            assert score.direction in {"supports", "opposes", "neutral"}
            assert score.intensity is None or -10 <= score.intensity <= 10
    kindness = next(s for s in text.theories["mft"] if s.value == "mft:kindness")
    assert kindness.intensity_source == "judge"
    others = [s for scores in text.theories.values() for s in scores if s.value != "mft:kindness"]
    assert {s.intensity_source for s in others} == {"neighbours"}, "the other values average their neighbours' priors"


def test_a_stored_text_is_nearest_to_its_own_value(version_in_use):
    for (theory, value), words in PLATFORM_VALUES.items():
        profile = profile_texts(texts=[" ".join(words.split()[:3])], top=1)
        assert profile.texts[0].theories[theory][0].value == f"{theory}:{value}"


def test_several_texts_give_a_group_profile(version_in_use):
    texts = ["care help family", "donate charity give", "school learn teacher"]
    profile = profile_texts(texts=texts, top=3)
    assert len(profile.texts) == 3
    assert set(profile.group) == {"svt", "mft", "duties", "rights"}
    for theory, entries in profile.group.items():
        values_of_theory = sum(1 for (key, _) in PLATFORM_VALUES if key == theory)
        assert len(entries) == min(3, values_of_theory)
        assert all(0.0 <= entry.top_share <= 1.0 for entry in entries)
        assert [e.similarity for e in entries] == sorted((e.similarity for e in entries), reverse=True)


def test_profiling_refuses_bad_input_clearly(version_in_use):
    with pytest.raises(ApplicationError, match="at least one text"):
        profile_texts(texts=[])
    with pytest.raises(ApplicationError, match="Text 2 is empty"):
        profile_texts(texts=["fine", "   "])
    with pytest.raises(ApplicationError, match="top must be between 1 and 20"):
        profile_texts(texts=["fine"], top=0)


def test_profiling_without_a_version_in_use_says_what_to_do(db):
    with pytest.raises(ApplicationError, match="No HiVES version is in use yet: train one") as error:
        profile_texts(texts=["anything"])
    assert error.value.status_code == 409


def test_values_deleted_from_the_taxonomy_drop_out_of_profiles(version_in_use):
    Value.objects.filter(theory__key="rights", key="privacy").update(key="privacy-renamed")
    profile = profile_texts(texts=["private secret diary"], top=3)
    assert all(score.value != "rights:privacy" for score in profile.texts[0].theories["rights"])
