"""Value profiles of texts under the HiVES version in use: for each theory, the values a text is nearest to, with the
similarity, the direction and an intensity estimate; for several texts, a group profile too.

- Similarity to a value: the cosine between the text and the nearer of the value's two directional centroids (the
  mean of its supporting texts, of its opposing texts), or the centroid of all its texts when it has neither.
- Intensity: the HiVES judge (a ridge head trained on the value's published intensities) when the value has one,
  else the similarity-weighted average of the scores of the value's 10 nearest scored texts (published intensity,
  else imported prior); none when the value has no scored texts.
- Direction: the sign of the intensity (|x| < 1 is neutral); without an intensity, the nearer directional centroid.
- Group profile: per value, the mean similarity and mean intensity over the texts, and the share of texts for which
  the value is among their theory's top values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from common.exceptions import ApplicationError
from labeling.models import Theory, Value
from modeling.ml.hives.data import DIRECTION_NAMES, NEUTRAL_DEAD_ZONE, OPPOSES, SUPPORTS, direction_from
from modeling.models import EmbeddingModel
from modeling.services.hives import VersionArtefacts, current_version, version_artefacts

MAX_TEXTS = 200
MAX_TEXT_CHARS = 5000
NEIGHBOURS = 10
DEFAULT_TOP = 3


@dataclass
class ValueScore:
    value: str  # theory:key
    name: str
    theory: str
    similarity: float
    direction: str  # supports | opposes | neutral
    intensity: float | None
    intensity_source: str | None  # judge | neighbours | None


@dataclass
class TextProfile:
    text: str
    theories: dict[str, list[ValueScore]]


@dataclass
class GroupValueScore:
    value: str
    name: str
    theory: str
    similarity: float
    intensity: float | None
    direction: str
    top_share: float  # share of the texts with this value among their theory's top values


@dataclass
class Profile:
    version: EmbeddingModel
    top: int
    texts: list[TextProfile]
    group: dict[str, list[GroupValueScore]] | None = None
    theory_names: dict[str, str] = field(default_factory=dict)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if not texts:
        raise ApplicationError("Give at least one text to profile.", {"field": "texts"})
    if len(texts) > MAX_TEXTS:
        raise ApplicationError(
            f"At most {MAX_TEXTS} texts can be profiled at once; got {len(texts)}.", {"field": "texts"}
        )
    cleaned = []
    for position, text in enumerate(texts, start=1):
        if not isinstance(text, str) or not text.strip():
            raise ApplicationError(f"Text {position} is empty.", {"field": "texts", "position": position})
        if len(text) > MAX_TEXT_CHARS:
            raise ApplicationError(
                f"Text {position} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}.",
                {"field": "texts", "position": position},
            )
        cleaned.append(text.strip())
    return cleaned


def _similarities(vectors: np.ndarray, artefacts: VersionArtefacts) -> tuple[np.ndarray, np.ndarray]:
    """([texts, values] similarity, [texts, values] direction of the nearer centroid: +1, −1, or 0 if neither)."""
    centroids = artefacts.centroids  # [values, 3, dim]: all, supporting, opposing
    all_sim = vectors @ centroids[:, 0].T
    support_sim = vectors @ centroids[:, 1].T
    oppose_sim = vectors @ centroids[:, 2].T
    has_support = artefacts.value_counts[:, 1] > 0
    has_oppose = artefacts.value_counts[:, 2] > 0
    support_sim = np.where(has_support, support_sim, -np.inf)
    oppose_sim = np.where(has_oppose, oppose_sim, -np.inf)
    directional = np.maximum(support_sim, oppose_sim)
    similarity = np.where(has_support | has_oppose, directional, all_sim)
    nearer = np.where(oppose_sim > support_sim, OPPOSES, np.where(has_support, SUPPORTS, 0))
    return similarity, nearer


def _neighbour_intensities(vectors: np.ndarray, artefacts: VersionArtefacts, value_index: int) -> np.ndarray | None:
    """Similarity-weighted mean score of the value's nearest scored texts, per text (None: no scored texts)."""
    mask = artefacts.scored_value == value_index
    if not mask.any():
        return None
    rows = artefacts.scored_rows[mask]
    scores = artefacts.scored_scores[mask].astype(np.float64)
    sims = vectors @ np.asarray(artefacts.vectors[np.sort(rows)]).T
    # np.sort above keeps memory-mapped reads in file order; put the scores in the same order.
    scores = scores[np.argsort(rows, kind="stable")]
    k = min(NEIGHBOURS, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    weights = np.clip(top_sims, 1e-6, None)
    return (weights * scores[top]).sum(axis=1) / weights.sum(axis=1)


def profile_texts(*, texts: Sequence[str], top: int = DEFAULT_TOP, version: EmbeddingModel | None = None) -> Profile:
    """The profile of each text (and the group profile when there are two or more) under the version in use."""
    texts = _check_texts(texts)
    if not 1 <= top <= 20:
        raise ApplicationError(f"top must be between 1 and 20, got {top}.", {"field": "top"})
    version = version or current_version()
    artefacts = version_artefacts(version)
    if not artefacts.value_keys:
        raise ApplicationError(
            f"{version.name} knows no values: no value had pooled texts when it was embedded.", status_code=409
        )
    vectors = artefacts.encoder.encode(texts)
    similarity, nearer = _similarities(vectors, artefacts)

    keys = {key.split(":", 1)[1] for key in artefacts.value_keys}
    values = {value.qualified_key: value for value in Value.objects.select_related("theory").filter(key__in=keys)}
    intensity = np.full(similarity.shape, np.nan)
    source: dict[int, str] = {}
    for index, key in enumerate(artefacts.value_keys):
        if artefacts.judge.knows(key):
            intensity[:, index] = artefacts.judge.predict(key, vectors)
            source[index] = "judge"
        else:
            estimate = _neighbour_intensities(vectors, artefacts, index)
            if estimate is not None:
                intensity[:, index] = estimate
                source[index] = "neighbours"

    by_theory: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(artefacts.value_keys):
        if key in values:  # a value deleted from the taxonomy since the version was embedded is left out
            by_theory[values[key].theory.key].append(index)
    theory_order = {theory.key: (theory.order, theory.name) for theory in Theory.objects.all()}
    theories = sorted(by_theory, key=lambda key: theory_order.get(key, (999, key)))

    def score(text_row: int, index: int) -> ValueScore:
        value = values[artefacts.value_keys[index]]
        estimate = None if np.isnan(intensity[text_row, index]) else float(intensity[text_row, index])
        direction = direction_from(None, estimate, dead_zone=NEUTRAL_DEAD_ZONE)
        if direction is None:
            direction = int(nearer[text_row, index]) or SUPPORTS
        return ValueScore(
            value=value.qualified_key,
            name=value.name,
            theory=value.theory.key,
            similarity=round(float(similarity[text_row, index]), 4),
            direction=DIRECTION_NAMES[direction],
            intensity=None if estimate is None else round(estimate, 2),
            intensity_source=source.get(index),
        )

    top_of: dict[str, np.ndarray] = {}
    profiles = []
    for theory in theories:
        indices = np.asarray(by_theory[theory])
        order = np.argsort(-similarity[:, indices], axis=1, kind="stable")[:, :top]
        top_of[theory] = indices[order]
    for row, text in enumerate(texts):
        profiles.append(
            TextProfile(text=text, theories={t: [score(row, int(i)) for i in top_of[t][row]] for t in theories})
        )

    group = None
    if len(texts) > 1:
        group = {}
        for theory in theories:
            indices = np.asarray(by_theory[theory])
            mean_sim = similarity[:, indices].mean(axis=0)
            chosen = indices[np.argsort(-mean_sim, kind="stable")[:top]]
            entries = []
            for index in chosen:
                value = values[artefacts.value_keys[int(index)]]
                column = intensity[:, int(index)]
                mean_intensity = None if np.isnan(column).all() else round(float(np.nanmean(column)), 2)
                direction = direction_from(None, mean_intensity)
                direction = SUPPORTS if direction is None else direction
                entries.append(
                    GroupValueScore(
                        value=value.qualified_key,
                        name=value.name,
                        theory=theory,
                        similarity=round(float(similarity[:, int(index)].mean()), 4),
                        intensity=mean_intensity,
                        direction=DIRECTION_NAMES[direction],
                        top_share=round(float((top_of[theory] == index).any(axis=1).mean()), 4),
                    )
                )
            group[theory] = entries
    names = {key: name for key, (_, name) in theory_order.items()}
    return Profile(version=version, top=top, texts=profiles, group=group, theory_names=names)
