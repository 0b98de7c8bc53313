"""Prometheus metrics of the platform, read from the database (the system of record) at scrape time, and written in
Prometheus's text exposition format (version 0.0.4).

Every process of a deployment answers the same figures, so any web instance can be scraped; nothing is kept in
process memory. What each metric means:

- `valueflow_judgments_total` (counter): judgments stored; `rate(valueflow_judgments_total[1m])` is judgments/s.
  A participant's withdrawal deletes judgments and shows as a counter reset, which Prometheus's rate() tolerates.
- `valueflow_open_assignments{campaign}` (gauge): leases handed out and not yet answered — the lease backlog;
  `valueflow_expired_open_assignments` counts those past their expiry that the reaper has not closed yet.
- `valueflow_refit_lag_seconds{value}` (gauge): how long the oldest judgment not yet in the value's published fit
  has waited (0 when the published fit covers every judgment); `valueflow_refit_lag_seconds_max` is the worst value.
- `valueflow_jobs{kind,status}` (gauge): pending and running jobs per kind — the work queued for the workers.
- `valueflow_job_duration_seconds{kind}` (histogram): run time of finished jobs, from their rows.

Cost: one index probe per value with judgments for the lag, and aggregate queries over judgments, open leases and
finished jobs — milliseconds at the sizes we measured (docs/operations.md); scrape every 15–60 s.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, ExpressionWrapper, F, FloatField, Q, Sum
from django.db.models.functions import Extract
from django.utils import timezone

from common.models import Job
from labeling.models import Assignment, Campaign, Judgment, Value
from modeling.models import PublishedFit

JOB_DURATION_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


class Exposition:
    """Collects metric families and renders them: HELP and TYPE once per family, then its samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, Any], float]]) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, help_text: str, series: dict[str, "HistogramSeries"], label: str) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} histogram")
        for key in sorted(series):
            data = series[key]
            for bound, count in zip(data.bounds, data.cumulative_counts, strict=True):
                self._lines.append(f"{name}_bucket{_labels({label: key, 'le': _number(bound)})} {count}")
            self._lines.append(f"{name}_bucket{_labels({label: key, 'le': '+Inf'})} {data.count}")
            self._lines.append(f"{name}_sum{_labels({label: key})} {_number(round(data.total, 3))}")
            self._lines.append(f"{name}_count{_labels({label: key})} {data.count}")

    def render(self) -> str:
        return "\n".join(self._lines) + "\n"


def _number(value: float) -> str:
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)


def refit_lags_s() -> dict[str, float]:
    """Seconds the oldest judgment missing from each value's published fit has waited, per value ("theory:key"),
    for every value that has a published fit or is part of a campaign that has started."""
    now = timezone.now()
    watermarks = dict(PublishedFit.objects.values_list("value_id", "fit__watermark"))
    started = Campaign.values.through.objects.exclude(campaign__status=Campaign.Status.DRAFT).values_list(
        "value_id", flat=True
    )
    value_ids = set(watermarks) | set(started)
    labels = {
        pk: f"{theory}:{key}"
        for pk, theory, key in Value.objects.filter(pk__in=value_ids).values_list("pk", "theory__key", "key")
    }
    lags: dict[str, float] = {}
    for value_id in sorted(value_ids):
        # The (value, id) index makes this one probe per value, however many judgments there are.
        oldest = (
            Judgment.objects.filter(value_id=value_id, id__gt=watermarks.get(value_id, 0), is_quality_check=False)
            .order_by("id")
            .values_list("created_at", flat=True)
            .first()
        )
        lags[labels[value_id]] = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return lags


@dataclass(frozen=True)
class HistogramSeries:
    bounds: tuple[float, ...]
    cumulative_counts: list[int]  # observations ≤ each bound
    count: int
    total: float


def job_duration_histograms(buckets: tuple[float, ...] = JOB_DURATION_BUCKETS_S) -> dict[str, HistogramSeries]:
    """Per job kind, finished jobs counted into cumulative duration buckets — in SQL, one grouped query."""
    seconds = ExpressionWrapper(Extract(F("finished_at") - F("started_at"), "epoch"), output_field=FloatField())
    bucket_counts = {f"le_{i}": Count("id", filter=Q(seconds__lte=bound)) for i, bound in enumerate(buckets)}
    rows = (
        Job.objects.filter(status__in=Job.TERMINAL_STATUSES, started_at__isnull=False, finished_at__isnull=False)
        .annotate(seconds=seconds)
        .values("kind")
        .annotate(n=Count("id"), total=Sum("seconds"), **bucket_counts)
        .order_by("kind")
    )
    return {
        row["kind"]: HistogramSeries(
            bounds=buckets,
            # django-stubs types the row from the literal annotations and cannot see the buckets' (**bucket_counts)
            cumulative_counts=[row[f"le_{i}"] for i in range(len(buckets))],  # type: ignore[literal-required]
            count=row["n"],
            total=float(row["total"] or 0.0),
        )
        for row in rows
    }


def metrics_exposition() -> str:
    """Every metric of the module docstring, in Prometheus's text format."""
    now = timezone.now()
    out = Exposition()
    out.family("valueflow_up", "gauge", "1 when this instance answers and reads its database.", [({}, 1)])
    out.family(
        "valueflow_judgments_total", "counter", "Judgments stored (rate() gives judgments per second).",
        [({}, Judgment.objects.count())],
    )
    open_leases = Assignment.objects.filter(status=Assignment.Status.OPEN)
    per_campaign = open_leases.values("campaign_id").annotate(
        n=Count("id"), expired=Count("id", filter=Q(expires_at__lte=now))
    )
    rows = list(per_campaign.order_by("campaign_id"))
    out.family(
        "valueflow_open_assignments", "gauge", "Leases handed out and not yet answered (the lease backlog).",
        [({"campaign": row["campaign_id"]}, row["n"]) for row in rows],
    )
    out.family(
        "valueflow_expired_open_assignments", "gauge", "Open leases past their expiry, awaiting the reaper.",
        [({}, sum(row["expired"] for row in rows))],
    )
    lags = refit_lags_s()
    out.family(
        "valueflow_refit_lag_seconds", "gauge",
        "Age of the oldest judgment not yet in the value's published fit (0: the fit covers every judgment).",
        [({"value": label}, round(lag, 3)) for label, lag in sorted(lags.items())],
    )
    out.family(
        "valueflow_refit_lag_seconds_max", "gauge", "The largest refit lag over all values.",
        [({}, round(max(lags.values(), default=0.0), 3))],
    )
    active = Job.objects.filter(status__in=Job.ACTIVE_STATUSES).values("kind", "status").annotate(n=Count("id"))
    out.family(
        "valueflow_jobs", "gauge", "Pending and running jobs per kind (work queued for the workers).",
        [({"kind": row["kind"], "status": row["status"]}, row["n"]) for row in active.order_by("kind", "status")],
    )
    out.histogram(
        "valueflow_job_duration_seconds", "Run time of finished jobs, by kind.", job_duration_histograms(), label="kind"
    )
    return out.render()
