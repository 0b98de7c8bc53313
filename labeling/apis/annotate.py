"""Annotating over the API, for external tools and simulated annotators: ask for the next comparison, submit an
answer (idempotently: an identical retry answers 200 with the same judgment) and, with `"next": true`, receive the
next comparison in the same response, undo the last answer, read my progress. Everyone reaches only their own
assignments and judgments; anyone else's answer 404.
"""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.exceptions import ApplicationError
from labeling.apis.campaigns import campaign_or_404
from labeling.models import Assignment, Campaign, Judgment
from labeling.selectors import assignment_of_annotator, campaign_progress_for_annotator
from labeling.services.annotation_sql import comparison_items_read
from labeling.services.assignment import NOT_IN_COHORT, assignment_next, campaign_for_annotation
from labeling.services.judgments import judgment_submit, judgment_undo, ordering_for_pair


class AssignmentItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="pool item id")
    text = serializers.CharField(source="text.content")


class AssignmentValueSerializer(serializers.Serializer):
    theory = serializers.CharField(source="theory.key")
    key = serializers.CharField()
    name = serializers.CharField()
    definition = serializers.CharField()


class AssignmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    items = AssignmentItemSerializer(many=True, help_text="in the order shown")
    protocol = serializers.CharField()
    value = AssignmentValueSerializer()
    expires_at = serializers.DateTimeField()
    instructions_version = serializers.IntegerField()
    reason = serializers.CharField(required=False, help_text="why the sampler chose it; researchers only")


class NextOutputSerializer(serializers.Serializer):
    assignment = AssignmentOutputSerializer(allow_null=True)
    reason = serializers.CharField(required=False, help_text="why there is no comparison (when assignment is null)")


class JudgmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment_id = serializers.IntegerField()
    kind = serializers.CharField()
    ordering = serializers.JSONField()
    shown_order = serializers.JSONField()
    latency_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class SubmitOutputSerializer(JudgmentOutputSerializer):
    next = NextOutputSerializer(
        required=False, help_text="only when the request asked for it: what POST …/next/ would have answered"
    )


_TIMESTAMP = serializers.DateTimeField()


def _assignment_payload(assignment: Assignment, *, protocol: str, user: Any) -> dict[str, Any]:
    """The comparison as an API client sees it (AssignmentOutputSerializer's shape, built from one query's rows);
    the sampler's reason only for researchers."""
    # a lease just stored on PostgreSQL carries its card (annotation_sql.lease_insert); a resumed one is read
    items = getattr(assignment, "card", None) or comparison_items_read(item_ids=assignment.item_ids)
    data: dict[str, Any] = {
        "id": assignment.pk,
        "items": [{"id": item_id, "text": items[item_id][0]} for item_id in assignment.item_ids],
        "protocol": protocol,
        # every item of a comparison is in the pool of the comparison's value
        "value": items[assignment.item_ids[0]][1],
        "expires_at": _TIMESTAMP.to_representation(assignment.expires_at),
        "instructions_version": assignment.instructions_version,
    }
    if user.is_researcher:
        data["reason"] = assignment.reason
    return data


def _next_payload(*, campaign: Campaign, user: Any) -> dict[str, Any]:
    """NextOutputSerializer's shape: the caller's open or new comparison, or null and why there is none. An
    annotator whom cohorts keep out of the campaign gets the 404 of a campaign they cannot see."""
    upcoming = assignment_next(campaign=campaign, annotator=user)
    if upcoming.assignment is None:
        if upcoming.reason == NOT_IN_COHORT and not user.is_researcher:
            raise ApplicationError(f"No campaign {campaign.pk} is open to you.", status_code=404)
        return {"assignment": None, "reason": upcoming.reason}
    return {"assignment": _assignment_payload(upcoming.assignment, protocol=campaign.protocol, user=user)}


class CampaignNextApi(APIView):
    """The caller's open comparison in this campaign, or a new one, or null and why there is none."""

    @extend_schema(request=None, responses=NextOutputSerializer)
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_for_annotation(campaign_id=campaign_id, user=request.user)
        if campaign is None:
            raise ApplicationError(f"No campaign {campaign_id} is open to you.", status_code=404)
        return Response(_next_payload(campaign=campaign, user=request.user))


class AssignmentSubmitApi(APIView):
    """Answer a comparison: `ordering` (groups of pool item ids, strongest first; a group is a tie) with `kind`, or
    for a pair simply `answer` ("1", "2", "tie", "neither" — positions in the order shown). With `"next": true` the
    response also carries `next`, what POST /campaigns/<id>/next/ would answer after this judgment: one round trip
    per judgment. A retry of a stored answer gets the same `next` (the lease handed out the first time resumes)."""

    @extend_schema_serializer(component_name="AssignmentSubmitInput")
    class InputSerializer(serializers.Serializer):
        ordering = serializers.JSONField(required=False, help_text="e.g. [[12], [57, 90], [33]]")
        kind = serializers.ChoiceField(choices=Judgment.Kind.choices, default=Judgment.Kind.RANKING)
        answer = serializers.ChoiceField(choices=["1", "2", "tie", "neither"], required=False)
        latency_ms = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
        client_info = serializers.DictField(required=False, default=dict)
        next = serializers.BooleanField(
            required=False, default=False, help_text="also answer with the next comparison of the campaign"
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("ordering" in attrs) == ("answer" in attrs):
                raise serializers.ValidationError("Send either `ordering` (with `kind`) or, for a pair, `answer`.")
            return attrs

    @extend_schema(request=InputSerializer, responses={201: SubmitOutputSerializer, 200: SubmitOutputSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "answer" in data:
            assignment = assignment_of_annotator(assignment_id=assignment_id, annotator=request.user)
            if assignment is None:
                raise ApplicationError(
                    "No such assignment for you.", extra={"assignment_id": assignment_id}, status_code=404
                )
            ordering, kind = ordering_for_pair(assignment=assignment, answer=data["answer"])
        else:
            ordering, kind = data["ordering"], data["kind"]
        result = judgment_submit(
            assignment_id=assignment_id,
            annotator=request.user,
            ordering=ordering,
            kind=kind,
            latency_ms=data["latency_ms"],
            client_info={**data["client_info"], "via": "api"},
        )
        body = _judgment_payload(result.judgment)
        if data["next"]:
            body["next"] = _next_payload(campaign=result.judgment.campaign, user=request.user)
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _judgment_payload(judgment: Judgment) -> dict[str, Any]:
    """JudgmentOutputSerializer's shape, without a serializer's per-field machinery on the hot path."""
    return {
        "id": judgment.pk,
        "assignment_id": judgment.assignment_id,
        "kind": judgment.kind,
        "ordering": judgment.ordering,
        "shown_order": judgment.shown_order,
        "latency_ms": judgment.latency_ms,
        "created_at": _TIMESTAMP.to_representation(judgment.created_at),
    }


class JudgmentUndoApi(APIView):
    """Take back your most recent judgment (within the undo window); the same comparison comes back as a new lease."""

    @extend_schema(request=None, responses=NextOutputSerializer)
    def post(self, request: Request, judgment_id: int) -> Response:
        again = judgment_undo(judgment_id=judgment_id, annotator=request.user)
        # judgment_undo hands back the lease with its campaign already loaded
        payload = _assignment_payload(again, protocol=again.campaign.protocol, user=request.user)
        return Response({"assignment": payload})


class CampaignProgressApi(APIView):
    """My progress in a campaign: judgments given (undone ones left out), my cap, and the campaign's active items."""

    @extend_schema_serializer(component_name="AnnotatorProgress")
    class OutputSerializer(serializers.Serializer):
        done = serializers.IntegerField()
        cap = serializers.IntegerField(allow_null=True)
        remaining_items = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id=campaign_id, user=request.user)
        progress = campaign_progress_for_annotator(campaign=campaign, annotator=request.user)
        return Response(self.OutputSerializer(progress).data)
