"""HiVES on the platform, with a tiny random encoder: training data from the pool, training runs as jobs, promotion
only when the new version beats the one in use, the automatic retrain check, crash-and-resume from the last
checkpoint, failed runs that leave the version in use alone, pinning, stored embeddings, neighbours and the judge."""

import numpy as np
import pytest
import torch
from django.utils import timezone

from common.exceptions import ApplicationError
from common.models import Job
from common.services import job_run, jobs_reap_stale
from labeling.models import PoolItem, Text, Value
from labeling.services.taxonomy import taxonomy_load
from modeling.models import EmbeddingModel
from modeling.services import hives as hives_service
from modeling.services.hives import (
    hives_judge_rank_window,
    hives_new_labels_count,
    hives_retrain_check,
    hives_text_neighbours,
    hives_training_data,
    hives_training_start,
    hives_version_pin,
    version_dir,
)
from tests.modeling.hives_helpers import import_platform_texts, tiny_model_dir

torch.set_num_threads(1)

FAST = {"stage1_steps": 4, "batch_size": 8, "n_positives": 2, "checkpoint_every": 2, "max_length": 24, "seed": 1}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def platform(db, settings, tiny_model, tmp_path, researcher):
    """The taxonomy, 54 labelled texts over nine values of the four theories, and HiVES on the tiny encoder."""
    settings.VALUEFLOW_HIVES_BASE_MODEL = str(tiny_model)
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 24
    settings.VALUEFLOW_HIVES_RETRAIN_AFTER = 20
    settings.VALUEFLOW_GPU_WORKER = False
    taxonomy_load()
    import_platform_texts(tmp_path / "imports", user=researcher)
    return tmp_path


class ScriptedMetrics:
    """Stands in for the held-out evaluation so that "better" is decided by the test: each call returns the next
    rank_acc of the script (calls come in the order base model, new version, version in use)."""

    def __init__(self, monkeypatch, *scores: float) -> None:
        self.scores = list(scores)
        self.calls = 0
        monkeypatch.setattr(hives_service, "_evaluate", self)

    def __call__(self, encoder, examples, *, seed, report):
        report(1.0)
        score = self.scores[self.calls]
        self.calls += 1
        return {"rank_acc": score, "sim_corr": score / 2, "orthogonality": 0.5,
                "knn_acc": {"level_1": score, "level_2": score, "level_3": score}}


def train_now(**kwargs) -> EmbeddingModel:
    version = hives_training_start(hyperparameters=dict(FAST), **kwargs)
    assert version.job_id is not None
    job_run(job_id=version.job_id)
    version.refresh_from_db()
    return version


def test_training_data_reads_paths_directions_and_a_watermark(platform):
    data = hives_training_data()
    assert data.counts["texts"] == 54 and data.counts["examples"] == 54
    by_value = {example.value: example for example in data.examples}
    assert by_value["svt:benevolence-caring"].path == (
        "svt:self-transcendence", "svt:benevolence", "svt:benevolence-caring"
    )
    assert by_value["mft:kindness"].path == ("mft:care-harm", "mft:kindness", "mft:kindness")
    assert {example.direction for example in data.examples} == {1, -1}
    assert by_value["mft:kindness"].concept is not None, "kindness belongs to a cross-theory concept"
    assert data.watermark["pool_item_id"] == PoolItem.objects.order_by("-id").first().pk

    # Probes are left out; an item with neither a direction nor a published intensity is skipped; a published
    # intensity gives the direction (|x| < 1 is neutral).
    value = Value.objects.get(theory__key="svt", key="tradition")
    probe = Text.objects.create(content="a steered answer", content_hash="probe-hash")
    PoolItem.objects.create(value=value, text=probe, direction=1, is_probe=True)
    unlabelled = Text.objects.create(content="no label at all", content_hash="unlabelled-hash")
    PoolItem.objects.create(value=value, text=unlabelled)
    scored = Text.objects.create(content="scored near zero", content_hash="scored-hash")
    PoolItem.objects.create(value=value, text=scored, intensity=0.4)  # stands in for a published fit
    data = hives_training_data()
    ids = {example.text_id: example for example in data.examples}
    assert probe.pk not in ids and unlabelled.pk not in ids
    assert ids[scored.pk].direction == 0
    assert data.counts["skipped_without_direction"] == 1


def test_a_first_run_is_trained_evaluated_against_the_base_model_and_promoted(platform, researcher, monkeypatch):
    ScriptedMetrics(monkeypatch, 0.5, 0.6)
    version = train_now(created_by=researcher)
    assert version.status == EmbeddingModel.Status.PROMOTED and version.is_current
    assert version.job.status == Job.Status.SUCCEEDED and version.job.queue == "default"
    assert version.seed == 1 and version.hyperparameters["stage1_steps"] == 4
    assert version.data_watermark["pool_item_id"] > 0
    assert [point[0] for point in version.loss_curve] == [1, 2, 3, 4]
    for metrics in (version.metrics, version.base_metrics):
        assert {"rank_acc", "sim_corr", "orthogonality", "knn_acc"} <= set(metrics)
    assert version.metrics["promotion"]["reference"] == "the untuned base model"
    # Every text is embedded under the promoted version, as unit vectors with their text ids.
    folder = version_dir(version)
    vectors = np.load(folder / "embeddings.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (Text.objects.count(), 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.load(folder / "text_ids.npy").tolist() == list(Text.objects.order_by("id").values_list("id", flat=True))
    assert version.n_embedded == Text.objects.count()
    assert not (folder / "checkpoints").exists(), "checkpoints are dropped once the model is saved"


def test_gpu_queue_is_used_when_a_gpu_worker_exists(platform, settings):
    settings.VALUEFLOW_GPU_WORKER = True
    version = hives_training_start(hyperparameters=dict(FAST))
    assert version.job.queue == "gpu"


def test_auto_retrain_promotes_only_a_better_version(platform, tmp_path, monkeypatch):
    # No version yet and 54 labelled texts ≥ 20: the periodic check starts a run.
    metrics = ScriptedMetrics(monkeypatch, 0.50, 0.60)  # base 0.50, first version 0.60
    first = hives_retrain_check()
    assert first is not None and first.job.title == "Train HiVES 1"
    assert hives_retrain_check() is None, "no second run while one is active"
    job_run(job_id=first.job_id)
    first.refresh_from_db()
    assert first.is_current and first.status == EmbeddingModel.Status.PROMOTED
    assert hives_new_labels_count() == 0
    assert hives_retrain_check() is None, "nothing new since the run's watermark"

    # 18 new labelled texts: below the threshold of 20.
    import_platform_texts(tmp_path / "more", seed=1, start=100, texts_per_value=2)
    assert hives_new_labels_count() == 18 and hives_retrain_check() is None

    # 18 more cross it: a run starts, is evaluated against the version in use on the same held-out texts, and —
    # scoring lower — is rejected; the version in use stays.
    import_platform_texts(tmp_path / "more", seed=2, start=200, texts_per_value=2)
    metrics.scores += [0.55, 0.58, 0.62]  # base, new version, version in use
    worse = hives_retrain_check()
    assert worse is not None
    job_run(job_id=worse.job_id)
    worse.refresh_from_db()
    first.refresh_from_db()
    assert worse.status == EmbeddingModel.Status.REJECTED and not worse.is_current
    assert worse.metrics["promotion"]["reference_version_id"] == first.pk
    assert "does not beat HiVES 1" in worse.metrics["promotion"]["reason"]
    assert first.is_current
    assert not (version_dir(worse) / "embeddings.npy").exists(), "a rejected version embeds nothing"

    # A rejected run is not retried on the same data; the next batch of labels starts one that wins.
    assert hives_retrain_check() is None
    import_platform_texts(tmp_path / "more", seed=3, start=300, texts_per_value=3)
    metrics.scores += [0.55, 0.70, 0.60]
    better = hives_retrain_check()
    job_run(job_id=better.job_id)
    better.refresh_from_db()
    first.refresh_from_db()
    assert better.status == EmbeddingModel.Status.PROMOTED and better.is_current
    assert not first.is_current
    assert EmbeddingModel.objects.filter(is_current=True).count() == 1


class WorkerDied(BaseException):
    """Like a killed worker process: not an Exception, so nothing on the way up records a failure."""


def test_a_run_that_crashes_after_a_checkpoint_resumes_from_it(platform, monkeypatch):
    from modeling.ml.hives import train as train_module

    ScriptedMetrics(monkeypatch, 0.5, 0.6)

    real_save = train_module._save_checkpoint
    saved_steps = []

    def save_then_die(path, state):
        real_save(path, state)
        saved_steps.append(state["step"])
        if len(saved_steps) == 1:
            raise WorkerDied

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    version = hives_training_start(hyperparameters={**FAST, "stage1_steps": 6})
    with pytest.raises(WorkerDied):
        job_run(job_id=version.job_id)
    version.refresh_from_db()
    assert version.status == EmbeddingModel.Status.TRAINING
    assert (version_dir(version) / "checkpoints" / "checkpoint.pt").is_file()
    watermark = version.data_watermark

    # The job reaper finds the running job without a heartbeat and requeues it; a worker runs it again.
    Job.objects.filter(pk=version.job_id).update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    assert jobs_reap_stale() == 1
    job = job_run(job_id=version.job_id)
    version.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["resumed_from_step"] == 2, "the run continued from the checkpoint at step 2, not from 0"
    assert version.metrics["resumed_from_step"] == 2
    assert version.data_watermark == watermark, "the resumed run reads the same data"
    assert [point[0] for point in version.loss_curve] == [1, 2, 3, 4, 5, 6]
    assert version.status == EmbeddingModel.Status.PROMOTED


def test_a_failed_run_never_replaces_the_version_in_use(platform, monkeypatch):
    ScriptedMetrics(monkeypatch, 0.5, 0.6, 0.5)  # the failing run measures the base model before it breaks
    current = train_now()
    assert current.is_current

    def broken_training(*args, **kwargs):
        raise RuntimeError("out of memory on the training device")

    monkeypatch.setattr("modeling.ml.hives.train.train", broken_training)
    failed = hives_training_start(hyperparameters=dict(FAST))
    job = job_run(job_id=failed.job_id)
    failed.refresh_from_db()
    current.refresh_from_db()
    assert job.status == Job.Status.FAILED and "out of memory" in job.error
    assert failed.status == EmbeddingModel.Status.FAILED and "out of memory" in failed.metrics["error"]
    assert current.is_current and not failed.is_current
    with pytest.raises(ApplicationError, match="cannot be pinned"):
        hives_version_pin(version=failed, pinned=True, user=None)


def test_training_start_refuses_clearly(platform):
    with pytest.raises(ApplicationError, match="unknown HiVES hyperparameter"):
        hives_training_start(hyperparameters={"learning_rate": 1})
    with pytest.raises(ApplicationError, match="held_out_fraction must be between"):
        hives_training_start(hyperparameters={"held_out_fraction": 0.9})
    hives_training_start(hyperparameters=dict(FAST))
    with pytest.raises(ApplicationError, match="already in progress") as error:
        hives_training_start(hyperparameters=dict(FAST))
    assert error.value.status_code == 409


def test_training_needs_labelled_texts(db, settings, tiny_model):
    settings.VALUEFLOW_HIVES_BASE_MODEL = str(tiny_model)
    with pytest.raises(ApplicationError, match="at least 10 labelled texts"):
        hives_training_start()


def test_a_pinned_version_is_used_and_automatic_promotion_leaves_it(platform, monkeypatch):
    metrics = ScriptedMetrics(monkeypatch, 0.5, 0.6, 0.5, 0.55, 0.6)
    first = train_now()
    second = train_now()  # scores 0.55 against the first one's 0.60: rejected, nothing embedded
    assert second.status == EmbeddingModel.Status.REJECTED

    job = hives_version_pin(version=second, pinned=True, user=None)
    assert job is not None, "a version without embeddings is embedded first"
    job_run(job_id=job.pk)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.is_pinned and second.is_current and not first.is_current
    assert second.n_embedded == Text.objects.count()

    metrics.scores += [0.5, 0.9, 0.55]  # a much better run
    third = train_now()
    second.refresh_from_db()
    assert third.status == EmbeddingModel.Status.EVALUATED, "better, but the version in use is pinned"
    assert "pinned" in third.metrics["promotion"]["reason"]
    assert second.is_current and not third.is_current

    hives_version_pin(version=second, pinned=False, user=None)
    second.refresh_from_db()
    assert not second.is_pinned and second.is_current, "unpinning keeps it in use until a better version arrives"
    assert hives_version_pin(version=first, pinned=True, user=None) is None, "first has embeddings: used at once"
    first.refresh_from_db()
    assert first.is_current and first.is_pinned


def test_neighbours_come_from_the_stored_matrix(platform, monkeypatch):
    ScriptedMetrics(monkeypatch, 0.5, 0.6)
    train_now()
    text = Text.objects.get(content__endswith="(benevolence-caring 0)")
    neighbours = hives_text_neighbours(text=text.content, k=5)
    assert len(neighbours) == 5
    assert neighbours[0].text_id == text.pk and neighbours[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert [n.similarity for n in neighbours] == sorted((n.similarity for n in neighbours), reverse=True)


def test_the_judge_learns_published_intensities_and_ranks_a_window(platform, monkeypatch):
    ScriptedMetrics(monkeypatch, 0.5, 0.6)
    value = Value.objects.get(theory__key="svt", key="benevolence-caring")
    items = list(PoolItem.objects.filter(value=value).order_by("id"))
    # Published intensities (stand-ins for fits): the supporting texts high, the opposing ones low.
    for item in items:
        PoolItem.objects.filter(pk=item.pk).update(intensity=-7.0 if item.direction == -1 else 6.0)
    extra = [Text.objects.create(content=f"care help family neighbour {i}", content_hash=f"h{i}") for i in range(4)]
    PoolItem.objects.bulk_create(PoolItem(value=value, text=t, direction=1, intensity=5.0) for t in extra)
    version = train_now()
    agreement = version.metrics["judge"]["svt:benevolence-caring"]
    assert agreement["n"] == 10 and 0.0 <= agreement["pairwise"] <= 1.0
    order = hives_judge_rank_window(value=value, texts=["care help friend", "control obey boss", "care not never"])
    assert sorted(order) == [0, 1, 2]
    with pytest.raises(ApplicationError, match="no regressor for mft:kindness"):
        hives_judge_rank_window(value=Value.objects.get(theory__key="mft", key="kindness"), texts=["kind"])
