"""Steering evaluations over the API: researchers and admins read evaluations and their reports; admins create a
draft (its plan comes back before anything runs), launch it, and score the human judgments that have arrived."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsPlatformAdmin, IsResearcher
from modeling.models import SteeringEvaluation
from modeling.services.evaluation_humans import evaluation_human_collect
from modeling.services.evaluations import (
    EvaluationSettings,
    evaluation_create,
    evaluation_get,
    evaluation_launch,
    evaluation_list,
    evaluation_plan,
    evaluation_progress,
)


class _ReadResearchersWriteAdmins(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsResearcher()] if self.request.method in SAFE_METHODS else [IsPlatformAdmin()]


@extend_schema_serializer(component_name="SteeringEvaluation")
class EvaluationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    prompt_style = serializers.CharField()
    levels = serializers.ListField(child=serializers.IntegerField())
    profiles = serializers.JSONField()
    include_baseline = serializers.BooleanField()
    backends = serializers.SerializerMethodField()
    values = serializers.SerializerMethodField()
    query_set = serializers.IntegerField(source="query_set_id")
    judge = serializers.CharField()
    judge_backend = serializers.IntegerField(source="judge_backend_id", allow_null=True)
    window_size = serializers.IntegerField()
    windows_per_response = serializers.IntegerField()
    seed = serializers.IntegerField()
    planned = serializers.JSONField()
    job = serializers.SerializerMethodField()
    human_campaign = serializers.IntegerField(source="human_campaign_id", allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_backends(self, evaluation: SteeringEvaluation) -> list[dict]:
        return [{"id": b.pk, "name": b.name} for b in evaluation.backends.all()]

    def get_values(self, evaluation: SteeringEvaluation) -> list[str]:
        return [v.qualified_key for v in evaluation.values.all()]

    def get_job(self, evaluation: SteeringEvaluation) -> dict | None:
        job = evaluation.job
        if job is None:
            return None
        return {"id": job.pk, "status": job.status, "progress": job.progress, "message": job.message}

    def get_url(self, evaluation: SteeringEvaluation) -> str:
        return reverse("api-evaluation-detail", args=[evaluation.pk], request=self.context.get("request"))


@extend_schema_serializer(component_name="SteeringEvaluationDetail")
class EvaluationDetailOutputSerializer(EvaluationOutputSerializer):
    progress = serializers.SerializerMethodField()
    report = serializers.JSONField()

    def get_progress(self, evaluation: SteeringEvaluation) -> dict:
        return evaluation_progress(evaluation=evaluation)


class EvaluationListApi(_ReadResearchersWriteAdmins):
    """GET: every evaluation, newest first. POST: create a DRAFT evaluation; the answer holds its plan (`planned`:
    generations, judge calls, …). With `"dry_run": true` only the plan comes back and nothing is stored."""

    @extend_schema_serializer(component_name="SteeringEvaluationCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        backends = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
        values = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
        query_set = serializers.IntegerField()
        levels = serializers.ListField(child=serializers.IntegerField(), required=False, default=[-2, -1, 0, 1, 2])
        prompt_style = serializers.ChoiceField(choices=SteeringEvaluation.PromptStyle.choices, default="persona")
        profiles = serializers.ListField(
            child=serializers.ListField(child=serializers.DictField()),
            required=False,
            default=list,
            help_text='Profile style: [[{"value": "svt:benevolence", "level": 2}, …], …]',
        )
        include_baseline = serializers.BooleanField(default=True)
        judge = serializers.ChoiceField(choices=SteeringEvaluation.Judge.choices, default="llm")
        judge_backend = serializers.IntegerField(required=False, allow_null=True, default=None)
        window_size = serializers.IntegerField(default=6)
        windows_per_response = serializers.IntegerField(default=3)
        seed = serializers.IntegerField(default=0)
        dry_run = serializers.BooleanField(default=False)

    @extend_schema(responses=EvaluationOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        evaluations = evaluation_list()
        return Response(EvaluationOutputSerializer(evaluations, many=True, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={201: EvaluationDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        settings = EvaluationSettings(
            name=data["name"],
            backend_ids=data["backends"],
            value_ids=data["values"],
            query_set_id=data["query_set"],
            levels=data["levels"],
            prompt_style=data["prompt_style"],
            profiles=data["profiles"],
            include_baseline=data["include_baseline"],
            judge=data["judge"],
            judge_backend_id=data["judge_backend"],
            window_size=data["window_size"],
            windows_per_response=data["windows_per_response"],
            seed=data["seed"],
        )
        if data["dry_run"]:
            return Response({"planned": evaluation_plan(settings=settings).to_dict()})
        evaluation = evaluation_create(settings=settings, created_by=request.user)
        evaluation = evaluation_get(evaluation_id=evaluation.pk)
        body = EvaluationDetailOutputSerializer(evaluation, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class EvaluationDetailApi(APIView):
    """GET: one evaluation with its plan, progress, job and report."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=EvaluationDetailOutputSerializer)
    def get(self, request: Request, evaluation_id: int) -> Response:
        evaluation = evaluation_get(evaluation_id=evaluation_id)
        return Response(EvaluationDetailOutputSerializer(evaluation, context={"request": request}).data)


class EvaluationLaunchApi(APIView):
    """POST: launch a draft (or resume a failed run); 202 with the evaluation and its job."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={202: EvaluationDetailOutputSerializer})
    def post(self, request: Request, evaluation_id: int) -> Response:
        evaluation = evaluation_get(evaluation_id=evaluation_id)
        evaluation_launch(evaluation=evaluation, user=request.user)
        evaluation = evaluation_get(evaluation_id=evaluation_id)
        body = EvaluationDetailOutputSerializer(evaluation, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EvaluationCollectApi(APIView):
    """POST: read the human campaign's judgments; scores and finishes the evaluation once the campaign is complete,
    or at once with `"force": true`."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema_serializer(component_name="SteeringEvaluationCollect")
    class InputSerializer(serializers.Serializer):
        force = serializers.BooleanField(default=False)

    class OutputSerializer(serializers.Serializer):
        judgments = serializers.IntegerField()
        probes = serializers.IntegerField()
        probes_complete = serializers.IntegerField()
        complete = serializers.BooleanField()
        finished = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request, evaluation_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluation = evaluation_get(evaluation_id=evaluation_id)
        progress = evaluation_human_collect(evaluation=evaluation, force=serializer.validated_data["force"])
        return Response(self.OutputSerializer(progress).data)
