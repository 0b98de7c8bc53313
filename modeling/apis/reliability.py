"""REST API of annotator reliability: one value's per-annotator estimates (reliability and side bias with 95 %
intervals) and the published fit's agreement metrics, for researchers; adding an LLM backend as an annotator on a
campaign, for admins."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsPlatformAdmin, IsResearcher
from common.exceptions import ApplicationError
from labeling.models import Campaign
from modeling.models import ModelBackend
from modeling.selectors import value_by_keys, value_published_pointer
from modeling.services.llm_annotators import MAX_JUDGMENTS_PER_RUN, llm_annotator_start
from modeling.services.reliability import value_annotator_estimates


class JobStartedSerializer(serializers.Serializer):
    job_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, job) -> str:  # type: ignore[no-untyped-def]
        return reverse("api-job-detail", args=[job.pk])


class ValueReliabilityApi(APIView):
    """The published fit's annotator estimates (least reliable first) and agreement metrics (`metrics`: split-half
    reliability, consensus τ, test–retest, LLM–human agreement, fragility, auto-pause and gold promotion)."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="AnnotatorReliability")
    class AnnotatorSerializer(serializers.Serializer):
        annotator_id = serializers.IntegerField()
        username = serializers.CharField()
        is_llm = serializers.BooleanField()
        n_judgments = serializers.IntegerField()
        reliability = serializers.FloatField(help_text="1 = like the consensus (median annotator), 0 = random")
        reliability_low = serializers.FloatField(help_text="95 % interval")
        reliability_high = serializers.FloatField()
        side_bias = serializers.FloatField(help_text="Extra preference for the text shown first, in logits")
        side_bias_low = serializers.FloatField()
        side_bias_high = serializers.FloatField()
        consensus_tau = serializers.FloatField(allow_null=True)
        weight = serializers.FloatField(help_text="The weight of their judgments in the fit")
        paused_in = serializers.ListField(child=serializers.CharField())

    @extend_schema_serializer(component_name="ValueReliability")
    class OutputSerializer(serializers.Serializer):
        fit_id = serializers.IntegerField(allow_null=True)
        metrics = serializers.JSONField()
        annotators = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = value_by_keys(theory_key=theory_key, value_key=value_key)
        if value is None:
            raise Http404(f"No value {theory_key}:{value_key}.")
        pointer = value_published_pointer(value=value)
        if pointer is None:
            return Response({"fit_id": None, "metrics": {}, "annotators": []})
        rows = value_annotator_estimates(fit=pointer.fit)
        return Response(
            {
                "fit_id": pointer.fit_id,
                "metrics": pointer.fit.metrics or {},
                "annotators": self.AnnotatorSerializer(rows, many=True).data,
            }
        )


class CampaignLlmAnnotatorStartApi(APIView):
    """Add a model backend as an annotator on the campaign; answers 202 with its annotation job to poll."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema_serializer(component_name="LlmAnnotatorStart")
    class InputSerializer(serializers.Serializer):
        backend_id = serializers.IntegerField()
        max_judgments = serializers.IntegerField(min_value=1, max_value=MAX_JUDGMENTS_PER_RUN, default=200)

    @extend_schema(request=InputSerializer, responses={202: JobStartedSerializer})
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        backend = ModelBackend.objects.filter(pk=serializer.validated_data["backend_id"]).first()
        if backend is None:
            raise ApplicationError(
                f"Model backend {serializer.validated_data['backend_id']} does not exist.",
                extra={"field": "backend_id"},
            )
        job = llm_annotator_start(
            campaign=campaign,
            backend=backend,
            max_judgments=serializer.validated_data["max_judgments"],
            started_by=request.user,
        )
        return Response(JobStartedSerializer(job).data, status=status.HTTP_202_ACCEPTED)
