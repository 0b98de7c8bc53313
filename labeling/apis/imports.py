"""Imports over the API: upload files to start an import job (202 + job), and list imported files."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from labeling.selectors import import_record_list
from labeling.services.imports import FORMATS, import_upload_start


class ImportApi(APIView):
    """GET: imported files, newest first (paginated). POST (multipart `format` + one or more `files`): store the
    files and start an import job; follow `job_url` for its progress and, when done, its summary or problems."""

    permission_classes = [IsResearcher]
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = LimitOffsetPagination

    @extend_schema_serializer(component_name="ImportUpload")
    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(FORMATS))
        files = serializers.ListField(child=serializers.FileField(), allow_empty=False)

    @extend_schema_serializer(component_name="ImportRecord")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        file_name = serializers.CharField()
        file_hash = serializers.CharField()
        format = serializers.CharField()
        rows = serializers.IntegerField()
        texts_created = serializers.IntegerField()
        pool_items_created = serializers.IntegerField()
        imported_by = serializers.CharField(source="imported_by.username", default=None)
        created_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(import_record_list(), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "ImportStarted", {"job_id": serializers.IntegerField(), "job_url": serializers.URLField()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = import_upload_start(
            format=serializer.validated_data["format"], files=serializer.validated_data["files"], user=request.user
        )
        job_url = reverse("api-job-detail", args=[job.pk], request=request)
        return Response({"job_id": job.pk, "job_url": job_url}, status=status.HTTP_202_ACCEPTED)
