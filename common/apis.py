"""Job status over the API: the same data the progress bar polls."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.selectors import job_list_visible_to


class JobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField()
    error = serializers.CharField()
    result = serializers.JSONField()
    params = serializers.JSONField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    duration_s = serializers.FloatField(allow_null=True)


class JobListApi(APIView):
    """Jobs the caller may see (researchers: all; others: their own), newest first."""

    @extend_schema(operation_id="jobs_list", responses=JobOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        jobs = job_list_visible_to(user=request.user)[:100]
        return Response(JobOutputSerializer(jobs, many=True).data)


class JobDetailApi(APIView):
    """One job the caller may see: status, progress, message, result or error."""

    @extend_schema(operation_id="jobs_retrieve", responses=JobOutputSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(job_list_visible_to(user=request.user), pk=job_id)
        return Response(JobOutputSerializer(job).data)
