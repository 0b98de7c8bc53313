"""REST API of one value's intensities, for researchers: the ranked published scores, the fit history, a manual
refit, and the annotators' agreement with the published fit. Routes sit below /api/v1/values/<theory>/<value>/."""

from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from labeling.models import Value
from modeling.selectors import (
    fit_median_ci_width,
    value_annotator_agreement,
    value_by_keys,
    value_fit_list,
    value_published_pointer,
    value_ranked_items,
)
from modeling.services.fits import refit_now
from modeling.views.plots import excerpt


def _paginated(name: str, serializer: serializers.Serializer) -> serializers.Serializer:
    """The schema of a limit/offset page of `serializer` rows."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer,
        },
    )


_PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Rows per page (default 50)"),
    OpenApiParameter("offset", int, description="Rows to skip"),
]


def _value_or_404(theory_key: str, value_key: str) -> Value:
    value = value_by_keys(theory_key=theory_key, value_key=value_key)
    if value is None:
        raise Http404(f"No value {theory_key}:{value_key}.")
    return value


class ValueIntensityListApi(APIView):
    """The value's texts, strongest published intensity first (texts without a published score last); `?q=`
    searches the texts, `?limit=&offset=` pages."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="ValueIntensity")
    class OutputSerializer(serializers.Serializer):
        pool_item_id = serializers.IntegerField(source="pk")
        text_id = serializers.IntegerField()
        excerpt = serializers.SerializerMethodField()
        intensity = serializers.FloatField(allow_null=True)
        ci_low = serializers.FloatField(allow_null=True)
        ci_high = serializers.FloatField(allow_null=True)
        utility = serializers.FloatField(allow_null=True)
        se = serializers.FloatField(source="utility_se", allow_null=True)
        n_judgments = serializers.IntegerField(
            allow_null=True, help_text="Judgments showing the text in the published fit"
        )
        prior_intensity = serializers.FloatField(allow_null=True)
        published_fit_id = serializers.IntegerField(allow_null=True)

        def get_excerpt(self, item) -> str:  # type: ignore[no-untyped-def]
            return excerpt(item.text.content)

    @extend_schema(
        responses=_paginated("PaginatedValueIntensities", OutputSerializer(many=True)),
        parameters=[OpenApiParameter("q", str, description="Only texts containing this (case-insensitive)"),
                    *_PAGE_PARAMETERS],
    )
    def get(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = _value_or_404(theory_key, value_key)
        items = value_ranked_items(value=value, query=request.query_params.get("q", "")[:200])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ValueFitListApi(APIView):
    """The value's fits, newest first, with the one that is published marked."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="ValueFit")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        is_published = serializers.SerializerMethodField()
        backend = serializers.CharField()
        watermark = serializers.IntegerField(help_text="Highest judgment id the fit read")
        n_items = serializers.IntegerField()
        n_judgments = serializers.IntegerField()
        log_likelihood = serializers.FloatField(allow_null=True)
        iterations = serializers.IntegerField()
        converged = serializers.BooleanField()
        seconds = serializers.FloatField(allow_null=True)
        median_ci_width = serializers.SerializerMethodField()
        warm_started_from = serializers.IntegerField(source="warm_started_from_id", allow_null=True)
        job_id = serializers.IntegerField(allow_null=True)
        scale = serializers.JSONField()
        config = serializers.JSONField()
        error = serializers.CharField()
        created_at = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)

        def get_is_published(self, fit) -> bool:  # type: ignore[no-untyped-def]
            return fit.pk == self.context["published_fit_id"]

        def get_median_ci_width(self, fit) -> float | None:  # type: ignore[no-untyped-def]
            return fit_median_ci_width(fit)

    @extend_schema(responses=_paginated("PaginatedValueFits", OutputSerializer(many=True)), parameters=_PAGE_PARAMETERS)
    def get(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = _value_or_404(theory_key, value_key)
        pointer = value_published_pointer(value=value)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(value_fit_list(value=value), request, view=self)
        context = {"published_fit_id": pointer.fit_id if pointer else None}
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True, context=context).data)


class ValueRefitApi(APIView):
    """Start the value's refit now (or hurry the one already waiting); answers 202 with the job to poll."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="RefitStarted")
    class OutputSerializer(serializers.Serializer):
        job_id = serializers.IntegerField(source="pk")
        status = serializers.CharField()
        status_url = serializers.SerializerMethodField()

        def get_status_url(self, job) -> str:  # type: ignore[no-untyped-def]
            return reverse("api-job-detail", args=[job.pk])

    @extend_schema(request=None, responses={202: OutputSerializer})
    def post(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = _value_or_404(theory_key, value_key)
        job = refit_now(value=value, requested_by=request.user)
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ValueAnnotatorListApi(APIView):
    """Per annotator of the value: judgments, median latency and agreement with the published fit."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="AnnotatorAgreement")
    class OutputSerializer(serializers.Serializer):
        annotator_id = serializers.IntegerField()
        username = serializers.CharField()
        n_judgments = serializers.IntegerField()
        median_latency_ms = serializers.FloatField(allow_null=True)
        n_pairs = serializers.IntegerField(help_text="Strict pairwise preferences among texts the published fit scored")
        agreement = serializers.FloatField(
            allow_null=True, help_text="Share of those preferences the published utilities order the same way"
        )

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = _value_or_404(theory_key, value_key)
        return Response(self.OutputSerializer(value_annotator_agreement(value=value), many=True).data)
