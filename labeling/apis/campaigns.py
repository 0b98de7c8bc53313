"""Campaigns over the API: researchers create campaigns and move them through their lifecycle; annotators list
and read the running ones (anything else answers 404, as if it did not exist)."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from common.exceptions import ApplicationError
from labeling.models import Campaign, Value
from labeling.selectors import (
    campaign_get_visible_to,
    campaign_instructions_current,
    campaign_list_visible_to,
    campaign_progress_list,
    value_get_by_qualified_key,
)
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status


class CampaignValueSerializer(serializers.Serializer):
    theory = serializers.CharField(source="theory.key")
    key = serializers.CharField()
    name = serializers.CharField()


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    protocol = serializers.CharField()
    list_size = serializers.IntegerField()
    allow_ties = serializers.BooleanField()
    sampling = serializers.CharField()
    judgments_per_item = serializers.IntegerField()
    ci_width_target = serializers.FloatField(allow_null=True)
    per_annotator_cap = serializers.IntegerField(allow_null=True)
    lease_ttl_s = serializers.IntegerField()
    repeat_rate = serializers.FloatField()
    values = CampaignValueSerializer(source="values.all", many=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CampaignProgressOutputSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    target = serializers.IntegerField(help_text="items × judgments_per_item")
    done = serializers.IntegerField(help_text="item-judgments counted towards the target")
    fraction = serializers.FloatField()
    judgments = serializers.IntegerField()
    judgments_last_hour = serializers.IntegerField()
    projected_completion = serializers.DateTimeField(allow_null=True)


class CampaignDetailOutputSerializer(CampaignOutputSerializer):
    instructions = serializers.DictField(help_text="the current version: {version, text}")
    progress = CampaignProgressOutputSerializer(allow_null=True, help_text="campaign-wide; researchers only")


def _detail(campaign: Campaign, *, user: Any) -> dict[str, Any]:
    instructions = campaign_instructions_current(campaign=campaign)
    data = dict(CampaignOutputSerializer(campaign).data)
    data["instructions"] = {"version": instructions.version, "text": instructions.text} if instructions else None
    data["progress"] = (
        CampaignProgressOutputSerializer(campaign_progress_list(campaigns=[campaign])[campaign.pk]).data
        if user.is_researcher
        else None
    )
    return data


def campaign_or_404(*, campaign_id: int, user: Any) -> Campaign:
    """The campaign if the user may see it; annotators asking for a draft, paused or finished one get a 404."""
    campaign = campaign_get_visible_to(campaign_id=campaign_id, user=user)
    if campaign is None:
        raise ApplicationError(f"No campaign {campaign_id} is open to you.", status_code=404)
    return campaign


class CampaignListApi(APIView):
    """GET: campaigns (researchers: all; annotators: running ones). POST: create a draft campaign (researchers)."""

    @extend_schema_serializer(component_name="CampaignCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        values = serializers.ListField(
            child=serializers.CharField(), allow_empty=False, help_text="qualified keys, e.g. svt:benevolence"
        )
        protocol = serializers.ChoiceField(choices=Campaign.Protocol.choices, default=Campaign.Protocol.PAIRWISE)
        list_size = serializers.IntegerField(default=2)
        allow_ties = serializers.BooleanField(default=True)
        sampling = serializers.ChoiceField(choices=Campaign.Sampling.choices, default=Campaign.Sampling.ADAPTIVE)
        judgments_per_item = serializers.IntegerField(default=15)
        ci_width_target = serializers.FloatField(required=False, allow_null=True, default=None)
        per_annotator_cap = serializers.IntegerField(required=False, allow_null=True, default=None)
        lease_ttl_s = serializers.IntegerField(default=600)
        repeat_rate = serializers.FloatField(default=0.0)
        instructions = serializers.CharField(required=False, allow_blank=True, default="")
        pool_source = serializers.CharField(required=False, allow_blank=True, default="")

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsResearcher()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(responses=CampaignOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        campaigns = campaign_list_visible_to(user=request.user)
        return Response(CampaignOutputSerializer(campaigns, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CampaignDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        values = _resolve_values(data.pop("values"))
        campaign = campaign_create(settings=CampaignSettings(**data), values=values, created_by=request.user)
        return Response(_detail(campaign, user=request.user), status=status.HTTP_201_CREATED)


def _resolve_values(qualified_keys: list[str]) -> list[Value]:
    values = []
    for position, qualified_key in enumerate(qualified_keys):
        try:
            values.append(value_get_by_qualified_key(qualified_key=qualified_key))
        except LookupError as exc:
            raise ApplicationError(
                f"values[{position}]: {exc.args[0] if exc.args else exc}.",
                extra={"field": "values", "value": qualified_key},
            ) from None
    return values


class CampaignDetailApi(APIView):
    """One campaign with its current instructions (and, for researchers, its progress)."""

    @extend_schema(responses=CampaignDetailOutputSerializer)
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id=campaign_id, user=request.user)
        return Response(_detail(campaign, user=request.user))


class CampaignStatusApi(APIView):
    """Start (running), pause (paused) or finish (finished) a campaign."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="CampaignStatusInput")
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=[Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.FINISHED]
        )

    @extend_schema(request=InputSerializer, responses=CampaignDetailOutputSerializer)
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = campaign_or_404(campaign_id=campaign_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = campaign_set_status(campaign=campaign, status=serializer.validated_data["status"])
        return Response(_detail(campaign, user=request.user))
