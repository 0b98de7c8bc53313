"""Query sets over the API: researchers and admins read them; admins import a CSV file (multipart), load the
default set and delete a set no evaluation uses."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsPlatformAdmin, IsResearcher
from modeling.models import QuerySet
from modeling.services.query_sets import (
    MAX_QUERY_FILE_BYTES,
    query_set_delete,
    query_set_get,
    query_set_import,
    query_set_list,
    query_set_load_default,
)


class _ReadResearchersWriteAdmins(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsResearcher()] if self.request.method in SAFE_METHODS else [IsPlatformAdmin()]


@extend_schema_serializer(component_name="QuerySet")
class QuerySetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    # named like Field.source: the serializer metaclass moves declared fields into _declared_fields
    source = serializers.CharField()  # type: ignore[assignment]
    n_queries = serializers.IntegerField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    def get_url(self, query_set: QuerySet) -> str:
        return reverse("api-query-set-detail", args=[query_set.pk], request=self.context.get("request"))


@extend_schema_serializer(component_name="QuerySetDetail")
class QuerySetDetailOutputSerializer(QuerySetOutputSerializer):
    queries = serializers.SerializerMethodField()

    def get_queries(self, query_set: QuerySet) -> list[dict]:
        return [{"id": q.pk, "position": q.position, "text": q.text} for q in query_set.queries.all()]


class QuerySetListApi(_ReadResearchersWriteAdmins):
    """GET: every query set. POST (multipart): import `file`, a CSV with a `query` column, as set `name` (201);
    a bad file is refused whole with its `file:line` problems in `extra.problems`."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema_serializer(component_name="QuerySetImport")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        file = serializers.FileField(help_text="UTF-8 CSV with a 'query' column.")

        def validate_file(self, upload):  # type: ignore[no-untyped-def]
            if upload.size > MAX_QUERY_FILE_BYTES:
                raise serializers.ValidationError(
                    f"The file is {upload.size:,} bytes; the limit is {MAX_QUERY_FILE_BYTES:,}."
                )
            return upload

    @extend_schema(responses=QuerySetOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(QuerySetOutputSerializer(query_set_list(), many=True, context={"request": request}).data)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: QuerySetDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        query_set = query_set_import(
            name=serializer.validated_data["name"],
            description=serializer.validated_data["description"],
            data=upload.read(),
            file_name=upload.name,
            created_by=request.user,
        )
        data = QuerySetDetailOutputSerializer(query_set_get(query_set_id=query_set.pk), context={"request": request})
        return Response(data.data, status=status.HTTP_201_CREATED)


class QuerySetDetailApi(_ReadResearchersWriteAdmins):
    """GET: one query set with its queries in order. DELETE: remove a set no evaluation uses (204, or 409)."""

    @extend_schema(responses=QuerySetDetailOutputSerializer)
    def get(self, request: Request, query_set_id: int) -> Response:
        query_set = query_set_get(query_set_id=query_set_id)
        return Response(QuerySetDetailOutputSerializer(query_set, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, query_set_id: int) -> Response:
        query_set_delete(query_set=query_set_get(query_set_id=query_set_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuerySetLoadDefaultApi(APIView):
    """POST: load the default query set; 201 when it was created now, 200 when it was already there."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={201: QuerySetDetailOutputSerializer, 200: QuerySetDetailOutputSerializer})
    def post(self, request: Request) -> Response:
        query_set, created = query_set_load_default(created_by=request.user)
        data = QuerySetDetailOutputSerializer(query_set_get(query_set_id=query_set.pk), context={"request": request})
        return Response(data.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
