"""Human judges for a steering evaluation: the responses join a ranking campaign as probe texts among fixed
anchors, annotators rank them through the normal annotation flow, and their judgments score the responses.

`human_campaign_open` (called by the evaluation's job once every response is generated) builds the campaign: per
value, each response to be scored on it becomes a probe pool item (PoolItem.is_probe, CampaignItem.is_probe — a
probe never enters snapshots, anchors or HiVES training), joined by (k − 1) anchors per probe spread over the
value's range (CampaignItem.is_anchor), so a comparison of k texts shows about one probe among anchors. The
campaign ranks lists of k texts without ties, balances exposure, and retires a text after m judgments. The
anchors' intensities are frozen on the evaluation when the campaign opens, so they stay fixed even when refits
publish new ones while annotators work. The evaluation then WAITS.

`evaluation_human_collect` (the periodic task, the "Score now" button and the API) turns each judgment that showed
a probe with anchors into a window for that probe — the probe and the anchors in the order shown, as ranked; other
probes of the same judgment are left out, which Plackett–Luce allows — and once every probe has its m windows (or
the campaign can serve no more comparisons, or was finished, or an admin asks) scores the responses with the
anchors fixed and the annotators' scale estimated from their anchor-vs-anchor orderings (one ranking per judgment),
writes the report and finishes the campaign.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from common.exceptions import ApplicationError
from labeling.models import Campaign, CampaignItem, Judgment
from labeling.services.campaigns import campaign_set_status
from labeling.services.imports import text_content_hash
from labeling.services.probes import ProbeText, probe_campaign_create, probe_items_of
from modeling.ml.evaluator import JudgedWindow, window_from_ranking
from modeling.models import JudgeWindow, SteeredResponse, SteeringEvaluation
from modeling.services.evaluation_judges import anchor_set
from modeling.services.evaluations import (
    JudgeKind,
    Status,
    evaluation_fields_set,
    evaluation_list,
    evaluation_targets,
    report_write,
    scores_write,
)

logger = logging.getLogger(__name__)

HUMAN_SOURCE = "steering-evaluation:{pk}"


def human_campaign_open(evaluation: SteeringEvaluation) -> Campaign:
    """Create (once) the evaluation's ranking campaign: for each value, every response to be scored on it becomes a
    probe text of the value's pool, joined by anchors spread over the value's range ((k − 1) per probe, as far as
    the value has them), so a comparison shows about one probe among k − 1 anchors. Listwise ranking of k texts
    without ties, balanced exposure, m judgments per text. The anchors' intensities are frozen here: they stay
    fixed even if refits publish new ones while the annotators work. The labeling rows are labeling's
    `probe_campaign_create`'s; this function chooses the anchors and links the responses to their probes."""
    if evaluation.human_campaign_id is not None:
        return evaluation.human_campaign  # type: ignore[return-value]
    targets = evaluation_targets(evaluation=evaluation)
    texts = dict(SteeredResponse.objects.filter(evaluation=evaluation).values_list("pk", "response"))
    values = {v.pk: v for v in evaluation.values.select_related("theory")}
    k, m = evaluation.window_size, evaluation.windows_per_response
    probe_texts: dict[int, list[int]] = defaultdict(list)  # value id → response ids
    for response_id, value_id in targets:
        probe_texts[value_id].append(response_id)
    unjudgeable = [values[v].qualified_key for v in values if not probe_texts.get(v)]
    if unjudgeable:
        raise ApplicationError(
            f"No response can be judged for {', '.join(unjudgeable)}: every response to be scored on it is empty.",
            extra={"values": unjudgeable},
        )
    source = HUMAN_SOURCE.format(pk=evaluation.pk)
    probes = [
        ProbeText(key=response_id, value_id=value_id, content=texts[response_id],
                  metadata={"steered_response": response_id})
        for value_id, response_ids in probe_texts.items()
        for response_id in response_ids
    ]
    anchors: dict[int, list[int]] = {}
    intensity_of: dict[int, float] = {}
    for value_id, response_ids in probe_texts.items():
        value_anchors = anchor_set(values[value_id])
        intensity_of.update(value_anchors.intensity_of)
        rng = np.random.default_rng([int(evaluation.seed), value_id, 1_000_003])
        distinct_probes = len({text_content_hash(texts[r]) for r in response_ids})
        spread = value_anchors.panel.spread((k - 1) * distinct_probes, rng)
        anchors[value_id] = [int(value_anchors.panel.ids[i]) for i in spread]
    with transaction.atomic():
        locked = SteeringEvaluation.objects.select_for_update().get(pk=evaluation.pk)
        if locked.human_campaign_id is not None:
            return locked.human_campaign  # type: ignore[return-value]
        built = probe_campaign_create(
            name=f"Steering evaluation #{evaluation.pk}: {evaluation.name}",
            description=(
                f"Steered responses of evaluation #{evaluation.pk} ranked among anchor texts of known intensity. "
                "Created by the evaluation; its judgments score the responses."
            ),
            values=values.values(),
            probes=probes,
            anchors=anchors,
            list_size=k,
            judgments_per_item=m,
            source=source,
            created_by=evaluation.created_by,
        )
        campaign = built.campaign
        frozen = {
            str(value_id): [[a, intensity_of[a]] for a in used] for value_id, used in built.anchors.items()
        }
        # A single-value response points at its probe (baseline and profile responses have one per value).
        singles = list(SteeredResponse.objects.filter(evaluation=evaluation, value__isnull=False).exclude(response=""))
        for single in singles:
            if single.value_id is not None:  # (always: the query asks for a value)
                single.probe_item_id = built.probe_item_of.get((single.pk, single.value_id))
        SteeredResponse.objects.bulk_update(singles, ["probe_item"], batch_size=1000)
        planned = dict(locked.planned or {})
        planned["human_anchors"] = frozen
        SteeringEvaluation.objects.filter(pk=evaluation.pk).update(human_campaign=campaign, planned=planned)
    evaluation.human_campaign, evaluation.planned = campaign, planned
    logger.info("evaluation %s: human campaign %s with %s items", evaluation.pk, campaign.pk, built.n_items)
    return campaign


@dataclass(frozen=True)
class HumanProgress:
    judgments: int
    probes: int
    probes_complete: int  # probes with m usable windows
    complete: bool
    finished: bool  # the evaluation was scored and its report written


def evaluation_human_collect(*, evaluation: SteeringEvaluation, force: bool = False) -> HumanProgress:
    """Read the human campaign's judgments into windows (each judgment that showed a probe with anchors is one
    window for that probe) and, once every probe has its m windows — or the campaign can serve no more comparisons,
    or was finished, or `force` — score the responses, write the report and finish the campaign."""
    if evaluation.judge != JudgeKind.HUMAN or evaluation.human_campaign is None:
        raise ApplicationError(
            f"Evaluation “{evaluation.name}” is not waiting for human judges.",
            extra={"status": evaluation.status},
            status_code=409,
        )
    if evaluation.status != Status.WAITING_FOR_HUMANS:
        raise ApplicationError(
            f"Evaluation “{evaluation.name}” is {evaluation.get_status_display().lower()}, not waiting for human "
            "judges.",
            extra={"status": evaluation.status},
            status_code=409,
        )
    campaign = evaluation.human_campaign
    frozen = (evaluation.planned or {}).get("human_anchors", {})
    anchors = {int(v): {int(a): float(y) for a, y in pairs} for v, pairs in frozen.items()}
    probe_items = probe_items_of(campaign)
    probe_of_item = {item: digest for item, digest, _ in probe_items}
    # probe pool item → the (response, value) targets it stands for (identical answers share one probe text)
    hashes: dict[str, list[int]] = defaultdict(list)
    for response_id, content in SteeredResponse.objects.filter(evaluation=evaluation).values_list("pk", "response"):
        hashes[text_content_hash(content)].append(response_id)
    item_value = {item: value_id for item, _, value_id in probe_items}
    wanted = set(evaluation_targets(evaluation=evaluation))
    targets_of_item = {
        item: [(r, item_value[item]) for r in hashes.get(digest, []) if (r, item_value[item]) in wanted]
        for item, digest in probe_of_item.items()
    }
    windows: dict[tuple[int, int], list[JudgedWindow]] = defaultdict(list)
    records: list[JudgeWindow] = []
    # One anchor ranking per judgment (its anchors in the annotator's order) for the scale.
    anchor_rankings: dict[int, list[list[float]]] = defaultdict(list)
    judgments = (
        Judgment.objects.filter(
            campaign=campaign, retraction__isnull=True, is_quality_check=False, kind=Judgment.Kind.RANKING
        )
        .order_by("pk")
        .values_list("pk", "value_id", "annotator_id", "shown_order", "ordering")
    )
    n_judgments = 0
    for judgment_id, value_id, annotator_id, shown, ordering in judgments.iterator(chunk_size=2000):
        n_judgments += 1
        value_anchors = anchors.get(value_id, {})
        if all(len(group) == 1 for group in ordering):
            ranked = [value_anchors[group[0]] for group in ordering if group[0] in value_anchors]
            if len(ranked) >= 2:
                anchor_rankings[value_id].append(ranked)
        for probe in (item for item in shown if item in targets_of_item):
            built = window_from_ranking(shown=shown, ranked_groups=ordering, scored=probe, intensity_of=value_anchors)
            if built is None:
                continue
            layout, judged = built
            for target in targets_of_item[probe]:
                windows[target].append(judged)
                records.append(
                    JudgeWindow(
                        response_id=target[0],
                        value_id=target[1],
                        judge=JudgeKind.HUMAN,
                        index=len(windows[target]) - 1,
                        shown=list(layout.shown),
                        response_position=layout.response_position,
                        anchor_intensities=list(judged.intensities),
                        prompt=f"Campaign “{campaign.name}”, judgment #{judgment_id} (probe pool item {probe}).",
                        raw_answers=[
                            json.dumps({"judgment": judgment_id, "annotator": annotator_id, "ordering": ordering})
                        ],
                        ordering=list(judged.ordering),
                        is_valid=True,
                    )
                )
    with transaction.atomic():
        JudgeWindow.objects.filter(response__evaluation=evaluation, judge=JudgeKind.HUMAN).delete()
        JudgeWindow.objects.bulk_create(records, batch_size=1000)
    m, k = evaluation.windows_per_response, evaluation.window_size
    complete_probes = sum(1 for target in wanted if len(windows.get(target, [])) >= m)
    active = CampaignItem.objects.filter(campaign=campaign, is_active=True)
    exhausted = not active.filter(is_probe=True).exists() or active.count() < k
    campaign.refresh_from_db(fields=["status"])
    complete = complete_probes == len(wanted) or exhausted or campaign.status == Campaign.Status.FINISHED
    progress = {
        "human_judgments": n_judgments,
        "probes": len(wanted),
        "probes_complete": complete_probes,
    }
    if not (complete or force):
        evaluation_fields_set(evaluation, report={**(evaluation.report or {}), "progress": progress})
        return HumanProgress(n_judgments, len(wanted), complete_probes, False, False)
    scores_write(evaluation, windows, scale_rankings=anchor_rankings)
    report_write(evaluation)
    if campaign.status != Campaign.Status.FINISHED:
        campaign_set_status(campaign=campaign, status=Campaign.Status.FINISHED)
    return HumanProgress(n_judgments, len(wanted), complete_probes, complete, True)


def evaluations_collect_waiting() -> list[int]:
    """Collect the human judgments of every evaluation waiting for them (the periodic task); returns the ids of
    those that finished."""
    finished = []
    for evaluation in evaluation_list().filter(status=Status.WAITING_FOR_HUMANS, judge=JudgeKind.HUMAN):
        try:
            if evaluation_human_collect(evaluation=evaluation).finished:
                finished.append(evaluation.pk)
        except ApplicationError as exc:
            logger.warning("evaluation %s: human judgments not collected: %s", evaluation.pk, exc.message)
    return finished
