"""Snapshots over the API (researchers only): list and create, one snapshot's manifest, its files (audit-logged
downloads), and the comparison of two snapshots. Snapshots are immutable: there is no update or delete."""

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from common.exceptions import ApplicationError
from modeling.models import Snapshot
from modeling.services.snapshots import (
    actor_label,
    snapshot_create,
    snapshot_diff,
    snapshot_file_names,
    snapshot_file_open,
    snapshot_get,
    snapshot_list,
    snapshot_value_ids_from_keys,
)


@extend_schema_serializer(component_name="Snapshot")
class SnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_hash = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)
    parent_hash = serializers.CharField(source="parent.content_hash", default=None)
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    n_values = serializers.IntegerField()
    n_items = serializers.IntegerField()
    n_judgments = serializers.IntegerField()
    values = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    def get_values(self, snapshot: Snapshot) -> list[str]:
        return [entry["value"] for entry in snapshot.manifest.get("values", [])]

    def get_url(self, snapshot: Snapshot) -> str:
        return reverse("api-snapshot-detail", args=[snapshot.pk], request=self.context.get("request"))


class SnapshotListApi(APIView):
    """GET: snapshots, newest first (paginated). POST: freeze the published fits of `values` (theory:key, e.g.
    `svt:benevolence`) into a new snapshot; 201 with the snapshot, or 200 with the existing snapshot that already
    holds exactly this content."""

    permission_classes = [IsResearcher]
    pagination_class = LimitOffsetPagination

    @extend_schema_serializer(component_name="SnapshotCreate")
    class InputSerializer(serializers.Serializer):
        values = serializers.ListField(
            child=serializers.CharField(max_length=200), allow_empty=False,
            help_text="Values as theory:key, e.g. svt:benevolence, mft:care-harm.",
        )
        name = serializers.CharField(max_length=200)
        # a field named like Field.parent: the serializer metaclass moves declared fields into _declared_fields
        parent = serializers.CharField(  # type: ignore[assignment]
            required=False, help_text="Parent snapshot id or content hash; defaults to the newest sharing a value."
        )

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(snapshot_list(), request, view=self)
        data = SnapshotOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=InputSerializer, responses={201: SnapshotOutputSerializer, 200: SnapshotOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        value_ids = snapshot_value_ids_from_keys(keys=data["values"])
        parent = snapshot_get(ref=data["parent"]) if data.get("parent") else None
        started = timezone.now()
        snapshot = snapshot_create(value_ids=value_ids, name=data["name"], created_by=request.user, parent=parent)
        # An older snapshot coming back means this exact content was frozen before.
        code = status.HTTP_200_OK if snapshot.created_at < started else status.HTTP_201_CREATED
        return Response(SnapshotOutputSerializer(snapshot, context={"request": request}).data, status=code)


class SnapshotDetailApi(APIView):
    """One snapshot with its full manifest (fits, counts, files with sha256) and the URL of each file."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="SnapshotDetail")
    class OutputSerializer(SnapshotOutputSerializer):
        manifest = serializers.JSONField()
        files = serializers.SerializerMethodField()

        def get_files(self, snapshot: Snapshot) -> list[str]:
            request = self.context.get("request")
            return [
                reverse("api-snapshot-file", args=[snapshot.pk, name], request=request)
                for name in snapshot_file_names(snapshot)
            ]

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, snapshot_id: int) -> Response:
        snapshot = snapshot_get(ref=snapshot_id)
        return Response(self.OutputSerializer(snapshot, context={"request": request}).data)


class SnapshotFileApi(APIView):
    """One file of a snapshot (`vidb/…csv`, `scores.jsonl`, `scores.parquet`, `judgments.jsonl`, `manifest.json`)
    as a download. Names not in the manifest are refused; every download is audit-logged."""

    permission_classes = [IsResearcher]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, snapshot_id: int, filename: str) -> FileResponse:
        snapshot = snapshot_get(ref=snapshot_id)
        path = snapshot_file_open(snapshot=snapshot, filename=filename, actor=actor_label(request.user))
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115


class SnapshotDiffApi(APIView):
    """`?a=<old>&b=<new>` (ids or content hashes): per shared value, items in both, added and removed, mean and
    largest |Δ intensity|, Spearman and Kendall rank correlations and the top movers."""

    permission_classes = [IsResearcher]

    class FilterSerializer(serializers.Serializer):
        a = serializers.CharField(help_text="The old snapshot: id or content hash (prefix).")
        b = serializers.CharField(help_text="The new snapshot: id or content hash (prefix).")
        top = serializers.IntegerField(min_value=0, max_value=100, default=10)

    @extend_schema(
        parameters=[
            OpenApiParameter("a", str, required=True), OpenApiParameter("b", str, required=True),
            OpenApiParameter("top", int, required=False),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        chosen = {}
        for side in ("a", "b"):
            try:
                chosen[side] = snapshot_get(ref=filters.validated_data[side])
            except ApplicationError as exc:
                raise ApplicationError(f"{side}: {exc.message}", {**exc.extra, "field": side}, exc.status_code) from exc
        old, new = chosen["a"], chosen["b"]
        diff = snapshot_diff(old=old, new=new, top=filters.validated_data["top"])
        return Response(diff.as_dict())
