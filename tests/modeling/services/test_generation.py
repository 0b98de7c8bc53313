"""Generating steered responses: answers in order with refusals flagged, planned rows filled once (resumable),
user-text examples from the level's intensity bin, and activation steering from a value's VIDB texts."""

import csv

import pytest
import torch

from common.exceptions import ApplicationError
from labeling.models import Value
from labeling.services.imports import texts_import
from labeling.services.taxonomy import taxonomy_load
from modeling.ml.llm.server import serve_backend
from modeling.ml.llm.tiny import TINY_MODEL_ID
from modeling.ml.steering.prompts import activation_prompt, baseline_prompt, persona_prompt
from modeling.models import SteeredResponse, SteeringEvaluation
from modeling.services.backends import backend_create
from modeling.services.generation import (
    activation_condition_for,
    generate_batch,
    responses_generate,
    steering_vector_for,
    user_text_examples,
    value_spec,
)
from modeling.services.query_sets import query_set_load_default

pytestmark = pytest.mark.django_db
torch.set_num_threads(1)


class ScriptedBackend:
    """Answers like a cautious assistant: declines questions about lying, answers the rest by echoing them."""

    name = "scripted"

    def __init__(self) -> None:
        self.seen: list[list[dict[str, str]]] = []

    def chat(self, conversations, *, temperature=1.0, max_new_tokens=160, seed=None):
        self.seen += conversations
        answers = []
        for conversation in conversations:
            question = conversation[-1]["content"].split("\n")[0]
            answers.append("I can't help with that." if "lie" in question else f"My answer to: {question}")
        return answers


@pytest.fixture
def scripted_endpoint():
    scripted = ScriptedBackend()
    with serve_backend(scripted, model_name="scripted") as server:
        backend = backend_create(name="Scripted", kind="openai", model="scripted", endpoint_url=server.base_url,
                                 max_retries=0, max_concurrency=2)
        yield backend, scripted


@pytest.fixture
def benevolence(tmp_path) -> Value:
    """Benevolence with 30 VIDB-scored texts spread over [-10, 10], imported through the VIDB importer."""
    taxonomy_load()
    path = tmp_path / "benevolence_pvq_flag_aggregated.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "final_rating"])
        for i in range(30):
            rating = -10 + 20 * i / 29
            verb = "help" if rating > 0 else "ignore"
            writer.writerow([f"Text number {i}: I {verb} my friends ({rating:.1f}).", f"{rating:.2f}"])
    texts_import(format="vidb", paths=[path])
    return Value.objects.get(theory__key="svt", key="benevolence")


def planned_rows(evaluation, backend, value, prompts_by_query):
    rows = []
    for query, prompt, level in prompts_by_query:
        rows.append(SteeredResponse.objects.create(
            evaluation=evaluation, backend=backend, query=query, value=value if level is not None else None,
            level=level, condition=prompt.condition, prompt=prompt.messages,
        ))
    return rows


def test_generate_batch_answers_in_order_and_flags_refusals(scripted_endpoint):
    backend, scripted = scripted_endpoint
    conversations = [baseline_prompt(q).messages for q in ("Is it fine to lie to my boss?", "What is a good life?",
                                                           "Should I call my mother?")]
    outputs = generate_batch(backend, conversations, {"temperature": 0.7, "seed": 4})
    assert [o.text for o in outputs] == [
        "I can't help with that.", "My answer to: What is a good life?", "My answer to: Should I call my mother?"
    ]
    assert [o.is_refusal for o in outputs] == [True, False, False]
    assert all(o.seconds > 0 for o in outputs)


def test_responses_are_generated_once_and_a_rerun_skips_them(scripted_endpoint, benevolence, platform_admin):
    backend, scripted = scripted_endpoint
    query_set, _ = query_set_load_default()
    evaluation = SteeringEvaluation.objects.create(name="Run", query_set=query_set, seed=5, created_by=platform_admin)
    queries = list(query_set.queries.all()[:3])
    spec = value_spec(benevolence)
    rows = planned_rows(evaluation, backend, benevolence, [
        (queries[0], baseline_prompt(queries[0].text), None),
        (queries[1], persona_prompt(queries[1].text, spec, 2), 2),
        (queries[2], persona_prompt(queries[2].text, spec, -2), -2),
    ])
    progress = []
    summary = responses_generate(evaluation_id=evaluation.pk, batch=[r.pk for r in rows],
                                 report=lambda fraction, message: progress.append(fraction))
    # The default set's second question is about lying, which the scripted assistant declines.
    assert "lie" in queries[1].text
    assert summary == {"generated": 3, "skipped": 0, "refusals": 1}
    assert progress[-1] == 1.0
    for row in rows:
        row.refresh_from_db()
        assert row.generation_seconds > 0
    assert [(row.is_refusal, row.response.startswith("My answer to: ")) for row in rows] == [
        (False, True), (True, False), (False, True)
    ]
    # The persona system prompt reached the model.
    assert any("strongly rejects Benevolence" in m["content"] for c in scripted.seen for m in c)

    assert responses_generate(evaluation_id=evaluation.pk, batch=[r.pk for r in rows]) == {
        "generated": 0, "skipped": 3, "refusals": 0
    }
    assert len(scripted.seen) == 3


def test_responses_of_another_evaluation_are_refused(scripted_endpoint):
    backend, _ = scripted_endpoint
    query_set, _ = query_set_load_default()
    mine = SteeringEvaluation.objects.create(name="Mine", query_set=query_set)
    other = SteeringEvaluation.objects.create(name="Other", query_set=query_set)
    query = query_set.queries.first()
    [row] = planned_rows(other, backend, None, [(query, baseline_prompt(query.text), None)])
    with pytest.raises(ApplicationError, match=f"do not belong to evaluation {mine.pk}"):
        responses_generate(evaluation_id=mine.pk, batch=[row.pk])


def test_user_text_examples_come_from_the_levels_bin_reproducibly(benevolence):
    examples = user_text_examples(value=benevolence, level=2, count=3, seed=1)
    assert len(examples) == 3
    assert all(float(text.rsplit("(", 1)[1].rstrip(").")) >= 6 for text in examples)
    assert user_text_examples(value=benevolence, level=2, count=3, seed=1) == examples
    assert user_text_examples(value=benevolence, level=2, count=3, seed=2) != examples


def test_user_text_examples_need_scored_texts_in_the_bin():
    taxonomy_load()
    power = Value.objects.get(theory__key="svt", key="power")
    with pytest.raises(ApplicationError, match="Power \\(svt\\) has no scored texts with intensity between 6 and 10"):
        user_text_examples(value=power, level=2)


def test_activation_rows_steer_the_local_model_with_a_cached_direction(benevolence, settings):
    backend = backend_create(name="Tiny", kind="local", model=TINY_MODEL_ID,
                             generation={"activation_alpha_per_level": 0.4, "max_new_tokens": 12})
    vector = steering_vector_for(backend=backend, value=benevolence)
    assert vector.layer == 1 and vector.n_high == 6 and vector.n_low == 6  # texts scored ≥ 6 and ≤ −6
    cached = list((settings.MODELING_ARTIFACTS_DIR / "steering").rglob("svt-benevolence-layer1-*.json"))
    assert len(cached) == 1
    assert steering_vector_for(backend=backend, value=benevolence).direction.tolist() == vector.direction.tolist()

    assert activation_condition_for(backend=backend, value=benevolence, level=0) is None
    condition = activation_condition_for(backend=backend, value=benevolence, level=-2)
    assert condition.alpha == pytest.approx(-0.8)

    query_set, _ = query_set_load_default()
    evaluation = SteeringEvaluation.objects.create(name="Activation", query_set=query_set)
    query = query_set.queries.first()
    spec = value_spec(benevolence)
    rows = planned_rows(evaluation, backend, benevolence, [
        (query, activation_prompt(query.text, spec, level), level) for level in (-2, 0, 2)
    ])
    assert responses_generate(evaluation_id=evaluation.pk, batch=[r.pk for r in rows])["generated"] == 3
    texts = [SteeredResponse.objects.get(pk=r.pk).response for r in rows]
    assert len(set(texts)) > 1  # the same prompt, pushed three ways


def test_activation_steering_needs_a_local_model_and_enough_scored_texts(scripted_endpoint, benevolence):
    backend, _ = scripted_endpoint
    with pytest.raises(ApplicationError, match="is an OpenAI-compatible endpoint; this needs a local model"):
        steering_vector_for(backend=backend, value=benevolence)
    tiny = backend_create(name="Tiny", kind="local", model=TINY_MODEL_ID)
    power = Value.objects.get(theory__key="svt", key="power")
    with pytest.raises(ApplicationError, match="needs at least 4 texts scored ≥ 6 and 4 scored ≤ −6; found 0 and 0"):
        steering_vector_for(backend=tiny, value=power)
    with pytest.raises(ApplicationError, match="layer 7 does not exist"):
        steering_vector_for(backend=tiny, value=benevolence, layer=7)
