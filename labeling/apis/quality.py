"""Quality control and cohorts over the API (researchers): annotators' quality figures, pausing / reinstating /
removing them, the disagreement queue and its decisions, and cohorts with their members and campaigns."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from common.exceptions import ApplicationError
from labeling.models import Adjudication, Campaign, CampaignMember, Cohort
from labeling.selectors import adjudication_list, campaign_member_get, campaign_quality_members, cohort_get, cohort_list
from labeling.services.adjudication import adjudication_decide, adjudication_dismiss
from labeling.services.cohorts import (
    cohort_campaign_assign,
    cohort_campaign_unassign,
    cohort_create,
    cohort_members_add,
)
from labeling.services.quality import member_set_state


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise ApplicationError(f"No campaign {campaign_id}.", status_code=404)
    return campaign


class MemberQualityOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the membership id (use it to change the state)")
    annotator = serializers.CharField(source="annotator.username")
    state = serializers.CharField()
    state_reason = serializers.CharField()
    state_changed_by = serializers.CharField(source="state_changed_by.username", default=None)
    judgments = serializers.IntegerField(source="judgments_count")
    gold_answered = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    attention_answered = serializers.IntegerField()
    attention_failed = serializers.IntegerField()
    too_fast = serializers.IntegerField(source="too_fast_count")
    flags = serializers.ListField(child=serializers.DictField(), help_text="[{rule, evidence}] of the rules broken")
    qc = serializers.JSONField(help_text="transitivity, retest, outlier test, … as last computed")


class CampaignQualityApi(APIView):
    """GET: every annotator of the campaign with their quality figures; flagged, paused and removed ones first."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=MemberQualityOutputSerializer(many=True))
    def get(self, request: Request, campaign_id: int) -> Response:
        members = campaign_quality_members(campaign=_campaign(campaign_id))
        return Response(MemberQualityOutputSerializer(members, many=True).data)


class CampaignMemberStateApi(APIView):
    """POST: reinstate ("active"), pause or remove an annotator (a reason is required to pause or remove)."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="MemberStateInput")
    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=CampaignMember.State.choices)
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)

    @extend_schema(request=InputSerializer, responses=MemberQualityOutputSerializer)
    def post(self, request: Request, campaign_id: int, member_id: int) -> Response:
        member = campaign_member_get(campaign=_campaign(campaign_id), member_id=member_id)
        if member is None:
            raise ApplicationError(f"No annotator membership {member_id} in campaign {campaign_id}.", status_code=404)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_set_state(member=member, changed_by=request.user, **serializer.validated_data)
        member.flags = (member.qc or {}).get("flags", [])  # type: ignore[attr-defined]
        return Response(MemberQualityOutputSerializer(member).data)


class AdjudicationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.CharField(source="value.qualified_key")
    item_a = serializers.IntegerField(source="item_a_id")
    item_b = serializers.IntegerField(source="item_b_id")
    text_a = serializers.CharField(source="item_a.text.content")
    text_b = serializers.CharField(source="item_b.text.content")
    status = serializers.CharField()
    disagreement = serializers.JSONField()
    decision = serializers.JSONField(allow_null=True)
    weight = serializers.FloatField()
    decided_by = serializers.CharField(source="decided_by.username", default=None)
    decided_at = serializers.DateTimeField(allow_null=True)


class CampaignAdjudicationListApi(APIView):
    """GET ?status=open|decided|dismissed (default open): the campaign's contested pairs, oldest first."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=AdjudicationOutputSerializer(many=True))
    def get(self, request: Request, campaign_id: int) -> Response:
        wanted = request.query_params.get("status", Adjudication.Status.OPEN)
        if wanted not in Adjudication.Status.values:
            raise ApplicationError(
                f"status must be one of {', '.join(Adjudication.Status.values)}.", extra={"field": "status"}
            )
        adjudications = adjudication_list(campaign=_campaign(campaign_id), status=wanted)[:500]
        return Response(AdjudicationOutputSerializer(adjudications, many=True).data)


class AdjudicationDecideApi(APIView):
    """POST {"decision": "a" | "b" | "tie" | "dismiss"}: item_a stronger, item_b stronger, a tie, or leave the pair
    undecided. A decision is stored as a judgment with the adjudication's weight and triggers a refit."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="AdjudicationDecisionInput")
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["a", "b", "tie", "dismiss"])

    @extend_schema(request=InputSerializer, responses=AdjudicationOutputSerializer)
    def post(self, request: Request, adjudication_id: int) -> Response:
        adjudication = Adjudication.objects.select_related("value__theory").filter(pk=adjudication_id).first()
        if adjudication is None:
            raise ApplicationError(f"No adjudication {adjudication_id}.", status_code=404)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        a, b = adjudication.item_a_id, adjudication.item_b_id
        decision = serializer.validated_data["decision"]
        if decision == "dismiss":
            adjudication_dismiss(adjudication=adjudication, researcher=request.user)
        else:
            ordering = {"a": [[a], [b]], "b": [[b], [a]], "tie": [[a, b]]}[decision]
            adjudication_decide(adjudication=adjudication, researcher=request.user, ordering=ordering)
        fresh = Adjudication.objects.select_related("value__theory", "item_a__text", "item_b__text", "decided_by").get(
            pk=adjudication.pk
        )
        return Response(AdjudicationOutputSerializer(fresh).data)


class CohortOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    members = serializers.SerializerMethodField()
    campaigns = serializers.SerializerMethodField()

    def get_members(self, cohort: Cohort) -> list[str]:
        return sorted(user.username for user in cohort.members.all())

    def get_campaigns(self, cohort: Cohort) -> list[int]:
        return sorted(campaign.pk for campaign in cohort.campaigns.all())


def _cohort_or_404(cohort_id: int) -> Cohort:
    cohort = cohort_get(cohort_id=cohort_id)
    if cohort is None:
        raise ApplicationError(f"No cohort {cohort_id}.", status_code=404)
    return cohort


class CohortListApi(APIView):
    """GET: the cohorts with their members and campaigns. POST {"name", "description"}: create one."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="CohortCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=CohortOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        cohorts = cohort_list().prefetch_related("members", "campaigns")
        return Response(CohortOutputSerializer(cohorts, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CohortOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cohort = cohort_create(**serializer.validated_data)
        return Response(CohortOutputSerializer(_cohort_or_404(cohort.pk)).data, status=status.HTTP_201_CREATED)


class CohortMembersApi(APIView):
    """POST {"usernames": [...]}: add annotators (all or none; unknown usernames are named in the error)."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="CohortMembersInput")
    class InputSerializer(serializers.Serializer):
        usernames = serializers.ListField(child=serializers.CharField(max_length=150), allow_empty=False)

    @extend_schema(request=InputSerializer, responses=CohortOutputSerializer)
    def post(self, request: Request, cohort_id: int) -> Response:
        cohort = _cohort_or_404(cohort_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cohort_members_add(cohort=cohort, usernames=serializer.validated_data["usernames"])
        return Response(CohortOutputSerializer(_cohort_or_404(cohort_id)).data)


class CohortCampaignsApi(APIView):
    """POST {"campaign": id, "action": "assign" | "unassign"}: serve the campaign only to cohort members, or not."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="CohortCampaignInput")
    class InputSerializer(serializers.Serializer):
        campaign = serializers.IntegerField()
        action = serializers.ChoiceField(choices=["assign", "unassign"])

    @extend_schema(request=InputSerializer, responses=CohortOutputSerializer)
    def post(self, request: Request, cohort_id: int) -> Response:
        cohort = _cohort_or_404(cohort_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        campaign = Campaign.objects.filter(pk=data["campaign"]).first()
        if campaign is None:
            raise ApplicationError(f"No campaign {data['campaign']}.", extra={"field": "campaign"}, status_code=404)
        if data["action"] == "assign":
            cohort_campaign_assign(cohort=cohort, campaign=campaign)
        else:
            cohort_campaign_unassign(cohort=cohort, campaign=campaign)
        return Response(CohortOutputSerializer(_cohort_or_404(cohort_id)).data)
