"""REST API of the budget planner: start a simulation job for a pool (or a campaign) and a target; the job's result
(GET /api/v1/jobs/<id>/) holds the plan and, for a campaign, its projection."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from labeling.models import Campaign
from modeling.apis.reliability import JobStartedSerializer
from modeling.ml.planning import NOISE_SPREADS
from modeling.services.planner import budget_plan_start, campaign_plan_defaults, plan_settings_build


class BudgetPlanApi(APIView):
    """Start a budget plan. Give `n_items`, `protocol` and `k`, or a `campaign_id` to take them from; `noise` is
    low | moderate | high; at least one of `target_ci_width` (intensity points) and `target_spearman`."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="BudgetPlanRequest")
    class InputSerializer(serializers.Serializer):
        campaign_id = serializers.IntegerField(required=False)
        n_items = serializers.IntegerField(min_value=3, required=False)
        protocol = serializers.ChoiceField(choices=Campaign.Protocol.values, default=Campaign.Protocol.PAIRWISE)
        k = serializers.IntegerField(min_value=2, max_value=8, default=2)
        noise = serializers.ChoiceField(choices=sorted(NOISE_SPREADS), default="moderate")
        target_ci_width = serializers.FloatField(required=False, allow_null=True)
        target_spearman = serializers.FloatField(required=False, allow_null=True)
        spam_share = serializers.FloatField(default=0.0)
        seeds = serializers.IntegerField(min_value=1, max_value=10, default=3)

        def validate(self, attrs):  # type: ignore[no-untyped-def]
            if "campaign_id" not in attrs and "n_items" not in attrs:
                raise serializers.ValidationError({"n_items": "Give n_items, or a campaign_id to plan for."})
            return attrs

    @extend_schema(request=InputSerializer, responses={202: JobStartedSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        campaign = None
        if "campaign_id" in data:
            campaign = get_object_or_404(Campaign, pk=data.pop("campaign_id"))
            defaults = campaign_plan_defaults(campaign=campaign)
            data.update(n_items=defaults["n_items"], protocol=defaults["protocol"], k=defaults["k"])
            if data.get("target_ci_width") is None and data.get("target_spearman") is None:
                data["target_ci_width"] = defaults["target_ci_width"]
        settings = plan_settings_build(**data)
        job = budget_plan_start(settings=settings, requested_by=request.user, campaign=campaign)
        return Response(JobStartedSerializer(job).data, status=status.HTTP_202_ACCEPTED)
