"""Campaign lifecycle: create (with its pool and first instructions), edit instructions and quality-control
settings, start, pause, finish."""

from collections.abc import Sequence
from dataclasses import dataclass, fields

from django.db import transaction
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Campaign, CampaignInstructions, CampaignItem, PoolItem, Value

# Allowed comparison sizes per protocol (method.md §3 and the campaign design).
PROTOCOL_SIZES: dict[str, range] = {
    Campaign.Protocol.PAIRWISE: range(2, 3),
    Campaign.Protocol.LISTWISE: range(3, 9),
    Campaign.Protocol.BEST_WORST: range(4, 7),
}


@dataclass(frozen=True)
class CampaignSettings:
    """What a researcher chooses when creating a campaign (the form and the API both build one)."""

    name: str
    protocol: str = Campaign.Protocol.PAIRWISE
    list_size: int = 2
    allow_ties: bool = True
    # adaptive: most informative comparisons under the published fit (balanced until the first fit exists)
    sampling: str = Campaign.Sampling.ADAPTIVE
    random_fraction: float = 0.2
    judgments_per_item: int = 15
    ci_width_target: float | None = None
    per_annotator_cap: int | None = None
    lease_ttl_s: int = 600
    repeat_rate: float = 0.0
    description: str = ""
    instructions: str = ""
    pool_source: str = ""  # when set, only pool items imported from this source take part
    # quality control and crowd integration (see QualityControlSettings; editable after creation too)
    gold_rate_start: float = 0.0
    gold_rate_end: float = 0.0
    gold_taper_judgments: int = 100
    attention_check_every: int | None = None
    min_ms_per_char: float = 0.0
    reliability_threshold: float | None = None
    requires_qualification: bool = False
    qualification_pass_score: float = 0.8
    completion_code: str = ""
    completion_url: str = ""


@dataclass(frozen=True)
class QualityControlSettings:
    """A campaign's quality-control and crowd settings, which researchers may change while it runs."""

    random_fraction: float = 0.2
    gold_rate_start: float = 0.0
    gold_rate_end: float = 0.0
    gold_taper_judgments: int = 100
    attention_check_every: int | None = None
    min_ms_per_char: float = 0.0
    reliability_threshold: float | None = None
    requires_qualification: bool = False
    qualification_pass_score: float = 0.8
    completion_code: str = ""
    completion_url: str = ""

    @classmethod
    def of(cls, source) -> "QualityControlSettings":  # type: ignore[no-untyped-def]
        """The quality-control part of a Campaign or a CampaignSettings."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls)})


def _validate_quality_control(qc: QualityControlSettings) -> None:
    for name in ("random_fraction", "gold_rate_start", "gold_rate_end"):
        if not 0 <= getattr(qc, name) <= 0.5:
            raise ApplicationError(f"{name} is a share of comparisons between 0 and 0.5.", extra={"field": name})
    if qc.gold_taper_judgments < 1:
        raise ApplicationError("gold_taper_judgments must be at least 1.", extra={"field": "gold_taper_judgments"})
    if qc.attention_check_every is not None and qc.attention_check_every < 2:
        raise ApplicationError(
            "attention_check_every must be at least 2 (every comparison a check leaves no work).",
            extra={"field": "attention_check_every"},
        )
    if not 0 <= qc.min_ms_per_char <= 1000:
        raise ApplicationError("min_ms_per_char must be between 0 and 1,000 ms.", extra={"field": "min_ms_per_char"})
    if qc.reliability_threshold is not None and not 0 <= qc.reliability_threshold <= 1:
        raise ApplicationError(
            "reliability_threshold is on the reliability scale (0 random, 1 the consensus): between 0 and 1.",
            extra={"field": "reliability_threshold"},
        )
    if not 0 < qc.qualification_pass_score <= 1:
        raise ApplicationError(
            "qualification_pass_score is the share of quiz answers needed: (0, 1].",
            extra={"field": "qualification_pass_score"},
        )
    code = qc.completion_code
    if len(code) > 64 or (code and not code.replace("-", "").replace("_", "").isalnum()):
        raise ApplicationError(
            "completion_code has up to 64 letters, digits, '-' or '_' (crowd platforms put it in a URL).",
            extra={"field": "completion_code"},
        )
    if qc.completion_url and not qc.completion_url.startswith(("https://", "http://")):
        raise ApplicationError("completion_url must be an http(s) address.", extra={"field": "completion_url"})


def _validate(settings: CampaignSettings) -> None:
    if not settings.name.strip():
        raise ApplicationError("A campaign needs a name.", extra={"field": "name"})
    sizes = PROTOCOL_SIZES.get(settings.protocol)
    if sizes is None:
        raise ApplicationError(f"Unknown protocol {settings.protocol!r}.", extra={"field": "protocol"})
    if settings.list_size not in sizes:
        raise ApplicationError(
            f"{settings.protocol} comparisons show {sizes.start}–{sizes.stop - 1} texts, not {settings.list_size}.",
            extra={"field": "list_size"},
        )
    if settings.sampling not in Campaign.Sampling.values:
        raise ApplicationError(f"Unknown sampling strategy {settings.sampling!r}.", extra={"field": "sampling"})
    if settings.judgments_per_item < 1:
        raise ApplicationError("judgments_per_item must be at least 1.", extra={"field": "judgments_per_item"})
    if settings.ci_width_target is not None and not 0 < settings.ci_width_target <= 20:
        raise ApplicationError("ci_width_target is in intensity points: (0, 20].", extra={"field": "ci_width_target"})
    if settings.per_annotator_cap is not None and settings.per_annotator_cap < 1:
        raise ApplicationError("per_annotator_cap must be at least 1.", extra={"field": "per_annotator_cap"})
    if not 30 <= settings.lease_ttl_s <= 24 * 3600:
        raise ApplicationError("lease_ttl_s must be between 30 s and 24 h.", extra={"field": "lease_ttl_s"})
    if not 0 <= settings.repeat_rate <= 0.5:
        raise ApplicationError("repeat_rate must be between 0 and 0.5.", extra={"field": "repeat_rate"})
    _validate_quality_control(QualityControlSettings.of(settings))


@transaction.atomic
def campaign_create(*, settings: CampaignSettings, values: Sequence[Value], created_by) -> Campaign:  # type: ignore[no-untyped-def]
    """Create a draft campaign over the pools of `values`; every pool item becomes a campaign item."""
    _validate(settings)
    if not values:
        raise ApplicationError("Choose at least one value to rank.", extra={"field": "values"})
    pool = PoolItem.objects.filter(value__in=values)
    if settings.pool_source:
        pool = pool.filter(source=settings.pool_source)
    counts = {value.pk: 0 for value in values}
    for value_id in pool.values_list("value_id", flat=True):
        counts[value_id] += 1
    too_small = [v.qualified_key for v in values if counts[v.pk] < settings.list_size]
    if too_small:
        raise ApplicationError(
            f"Every value needs at least {settings.list_size} texts in its pool; too few in: {', '.join(too_small)}.",
            extra={"field": "values", "pool_sizes": {v.qualified_key: counts[v.pk] for v in values}},
        )
    campaign = Campaign.objects.create(
        name=settings.name.strip(),
        description=settings.description,
        protocol=settings.protocol,
        list_size=settings.list_size,
        allow_ties=settings.allow_ties,
        sampling=settings.sampling,
        judgments_per_item=settings.judgments_per_item,
        ci_width_target=settings.ci_width_target,
        per_annotator_cap=settings.per_annotator_cap,
        lease_ttl_s=settings.lease_ttl_s,
        repeat_rate=settings.repeat_rate,
        created_by=created_by,
        **{f.name: getattr(settings, f.name) for f in fields(QualityControlSettings)},
    )
    campaign.values.set(values)
    CampaignInstructions.objects.create(
        campaign=campaign,
        version=1,
        text=settings.instructions or default_instructions(campaign),
        created_by=created_by,
    )
    CampaignItem.objects.bulk_create(
        (
            CampaignItem(campaign=campaign, pool_item_id=item_id, value_id=value_id)
            for item_id, value_id in pool.values_list("id", "value_id").iterator(chunk_size=5000)
        ),
        batch_size=5000,
    )
    return campaign


def default_instructions(campaign: Campaign) -> str:
    if campaign.protocol == Campaign.Protocol.PAIRWISE:
        task = (
            "Read both texts and choose the one that expresses the value MORE strongly (supports it more). "
            "A text that opposes the value expresses it less than a neutral text. Press T if both express it "
            "equally, N if neither text has anything to do with the value."
        )
    elif campaign.protocol == Campaign.Protocol.BEST_WORST:
        task = "Pick the text that supports the value MOST and the text that supports it LEAST (opposes it most)."
    else:
        task = (
            "Order the texts from the one that supports the value most to the one that opposes it most. "
            "Texts that express the value equally may share a place."
        )
    return f"{task}\n\nJudge only the value shown, using its definition; not whether you agree with the text."


def campaign_instructions_update(*, campaign: Campaign, text: str, updated_by) -> CampaignInstructions:  # type: ignore[no-untyped-def]
    if not text.strip():
        raise ApplicationError("Instructions cannot be empty.", extra={"field": "instructions"})
    with transaction.atomic():
        latest = (
            CampaignInstructions.objects.select_for_update().filter(campaign=campaign).order_by("-version").first()
        )
        version = (latest.version if latest else 0) + 1
        return CampaignInstructions.objects.create(
            campaign=campaign, version=version, text=text.strip(), created_by=updated_by
        )


def campaign_quality_control_update(*, campaign: Campaign, settings: QualityControlSettings) -> Campaign:
    """Change a campaign's quality-control and crowd settings (allowed while it runs: new comparisons follow them)."""
    _validate_quality_control(settings)
    values = {f.name: getattr(settings, f.name) for f in fields(QualityControlSettings)}
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if settings.requires_qualification and campaign.status == Campaign.Status.RUNNING:
            _check_quiz_ready(campaign)
        for name, value in values.items():
            setattr(campaign, name, value)
        campaign.save(update_fields=list(values))
    return campaign


def _check_quiz_ready(campaign: Campaign) -> None:
    if not campaign.qualification_questions.exists():
        raise ApplicationError(
            "This campaign requires a qualification quiz but has no questions: add them first.",
            extra={"field": "requires_qualification"},
            status_code=409,
        )


_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Campaign.Status.RUNNING: (Campaign.Status.DRAFT, Campaign.Status.PAUSED),
    Campaign.Status.PAUSED: (Campaign.Status.RUNNING,),
    Campaign.Status.FINISHED: (Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED),
}


def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """start (draft/paused → running), pause (running → paused), finish (any but finished → finished)."""
    allowed_from = _TRANSITIONS.get(status)
    if allowed_from is None:
        raise ApplicationError(f"Unknown campaign status {status!r}.")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == status:
            return campaign
        if campaign.status not in allowed_from:
            raise ApplicationError(
                f"A {campaign.get_status_display().lower()} campaign cannot become {status}.",
                extra={"status": campaign.status},
                status_code=409,
            )
        if status == Campaign.Status.RUNNING and campaign.requires_qualification:
            _check_quiz_ready(campaign)
        now = timezone.now()
        campaign.status = status
        if status == Campaign.Status.RUNNING and campaign.started_at is None:
            campaign.started_at = now
        if status == Campaign.Status.FINISHED:
            campaign.finished_at = now
        campaign.save(update_fields=["status", "started_at", "finished_at"])
    return campaign
