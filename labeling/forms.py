"""Forms of the labeling pages: designing a campaign, editing its instructions, and reading annotators' answers.

Forms only parse and check input; what is stored, and the rules that need the database, stay in the services.
"""

from itertools import groupby
from typing import Any

from django import forms

from common.exceptions import ApplicationError
from labeling.models import Assignment, Campaign, Judgment, Value
from labeling.selectors import pooled_value_list
from labeling.services.campaigns import PROTOCOL_SIZES, CampaignSettings
from labeling.services.judgments import ordering_for_pair


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    values = forms.TypedMultipleChoiceField(
        coerce=int,
        label="Target values",
        help_text="Values that have texts in their pool, grouped by theory (pool size in brackets). "
        "Hold Ctrl (⌘ on a Mac) to choose several.",
        widget=forms.SelectMultiple(attrs={"size": 12}),
    )
    protocol = forms.ChoiceField(choices=Campaign.Protocol.choices, initial=Campaign.Protocol.PAIRWISE)
    list_size = forms.IntegerField(
        initial=2,
        min_value=2,
        max_value=8,
        help_text="Texts per comparison: pairwise 2, listwise 3–8, best–worst 4–6.",
    )
    allow_ties = forms.BooleanField(required=False, initial=True, help_text="Annotators may say two texts are equal.")
    sampling = forms.ChoiceField(choices=Campaign.Sampling.choices, initial=Campaign.Sampling.ADAPTIVE)
    judgments_per_item = forms.IntegerField(
        initial=15, min_value=1, help_text="An item stops being asked once it was judged this many times."
    )
    ci_width_target = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=20,
        label="CI-width target",
        help_text="Optional: an item also stops once its 95 % interval is at most this many intensity points wide.",
    )
    per_annotator_cap = forms.IntegerField(
        required=False, min_value=1, help_text="Optional: the most judgments one annotator may give."
    )
    lease_ttl_s = forms.IntegerField(
        initial=600,
        min_value=30,
        max_value=24 * 3600,
        label="Lease time (seconds)",
        help_text="How long an annotator holds a comparison before it goes back to the pool.",
    )
    repeat_rate = forms.FloatField(
        initial=0.0,
        min_value=0,
        max_value=0.5,
        help_text="Share of comparisons shown again (reversed) to the same annotator, for test–retest consistency.",
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Leave empty to start from the standard instructions of the chosen protocol.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pooled = list(pooled_value_list())
        self._values_by_id = {value.pk: value for value in pooled}
        values_field = self.fields["values"]
        assert isinstance(values_field, forms.TypedMultipleChoiceField)
        values_field.choices = [
            (theory.name, [(value.pk, f"{value.name} ({value.pool_size})") for value in values])
            for theory, values in groupby(pooled, key=lambda value: value.theory)
        ]

    def clean_values(self) -> list[Value]:
        return [self._values_by_id[value_id] for value_id in self.cleaned_data["values"]]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        protocol, list_size = cleaned.get("protocol"), cleaned.get("list_size")
        sizes = PROTOCOL_SIZES.get(protocol) if protocol else None
        if protocol and sizes is not None and list_size is not None and list_size not in sizes:
            label = Campaign.Protocol(protocol).label.split(" (")[0]
            span = f"exactly {sizes.start}" if len(sizes) == 1 else f"{sizes.start}–{sizes.stop - 1}"
            self.add_error("list_size", f"{label} comparisons show {span} texts, not {list_size}.")
        return cleaned

    def to_settings(self) -> CampaignSettings:
        data = self.cleaned_data
        return CampaignSettings(
            name=data["name"],
            description=data["description"],
            protocol=data["protocol"],
            list_size=data["list_size"],
            allow_ties=data["allow_ties"],
            sampling=data["sampling"],
            judgments_per_item=data["judgments_per_item"],
            ci_width_target=data["ci_width_target"],
            per_annotator_cap=data["per_annotator_cap"],
            lease_ttl_s=data["lease_ttl_s"],
            repeat_rate=data["repeat_rate"],
            instructions=data["instructions"],
        )


class CampaignInstructionsForm(forms.Form):
    text = forms.CharField(
        label="Instructions",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Saving makes a new version; each judgment records the version the annotator saw.",
    )


# --- annotators' answers -------------------------------------------------------------------------------------------


def answer_from_post(*, assignment: Assignment, protocol: str, data: Any) -> tuple[Any, str]:
    """Turn the work page's POST into (ordering, kind) for judgment_submit.

    Pairwise: `answer` ∈ 1, 2, tie, neither. Listwise: `rank_<pool item id>` = 1…k for every text (equal numbers are
    a tie). Best–worst: `best` and `worst` are pool item ids. This checks the form's shape; whether the ranking
    covers exactly the comparison's items and whether ties are allowed is the service's to judge.
    """
    shown = list(assignment.item_ids)
    if protocol == Campaign.Protocol.PAIRWISE:
        return ordering_for_pair(assignment=assignment, answer=(data.get("answer") or "").strip().lower())
    if protocol == Campaign.Protocol.BEST_WORST:
        best, worst = _item_id(data, "best", shown), _item_id(data, "worst", shown)
        if best == worst:
            raise ApplicationError("The best and the worst text must be two different texts.", extra={"field": "worst"})
        middle = [item_id for item_id in shown if item_id not in (best, worst)]
        return [[best], middle, [worst]], Judgment.Kind.BEST_WORST
    ranks: dict[int, int] = {}
    for position, item_id in enumerate(shown, start=1):
        raw = (data.get(f"rank_{item_id}") or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= len(shown):
            raise ApplicationError(
                f"The rank of text {position} must be a whole number from 1 to {len(shown)}, not {raw!r}.",
                extra={"field": f"rank_{item_id}"},
            )
        ranks[item_id] = int(raw)
    # strongest first; texts with equal numbers form one tied group, in the order they were shown
    by_rank = sorted(shown, key=lambda item_id: ranks[item_id])
    ordering = [list(group) for _, group in groupby(by_rank, key=lambda item_id: ranks[item_id])]
    return ordering, Judgment.Kind.RANKING


def _item_id(data: Any, field: str, shown: list[int]) -> int:
    raw = (data.get(field) or "").strip()
    if not raw.isdigit() or int(raw) not in shown:
        raise ApplicationError(f"Choose the {field} text among the texts shown (got {raw!r}).", extra={"field": field})
    return int(raw)


def latency_from_post(data: Any) -> int | None:
    """The client-measured milliseconds from showing the comparison to answering it; absent without JavaScript."""
    raw = (data.get("latency_ms") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ApplicationError(
            f"latency_ms must be a whole number of milliseconds, not {raw!r}.", extra={"field": "latency_ms"}
        )
    return int(raw)
