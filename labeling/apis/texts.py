"""Texts over the API: search and filter by value pool (paginated), and one text with its pools."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from common.exceptions import ApplicationError
from labeling.models import Text
from labeling.selectors import text_get, text_list, value_get_by_qualified_key


class PoolMembershipOutputSerializer(serializers.Serializer):
    value = serializers.CharField(source="value.qualified_key")
    value_name = serializers.CharField(source="value.name")
    direction = serializers.IntegerField(allow_null=True)
    prior_intensity = serializers.FloatField(allow_null=True)
    intensity = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    # named like Field.source: the serializer metaclass moves declared fields into _declared_fields
    source = serializers.CharField()  # type: ignore[assignment]


class TextOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    content = serializers.CharField()
    content_hash = serializers.CharField()
    language = serializers.CharField()
    # named like Field.source: the serializer metaclass moves declared fields into _declared_fields
    source = serializers.CharField()  # type: ignore[assignment]
    licence = serializers.CharField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    pools = PoolMembershipOutputSerializer(source="pool_items.all", many=True)


class TextListApi(APIView):
    """Texts, newest first, with their pools; `q` searches the content, `value` (theory:key) keeps one pool."""

    permission_classes = [IsResearcher]
    pagination_class = LimitOffsetPagination

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, default="")
        value = serializers.CharField(required=False, allow_blank=True, default="")

    OutputSerializer = TextOutputSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="text the content contains (any case)"),
            OpenApiParameter(
                "value", OpenApiTypes.STR, description="only texts in this value's pool, e.g. svt:benevolence"
            ),
        ],
        responses=TextOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        value = None
        if filters.validated_data["value"]:
            try:
                value = value_get_by_qualified_key(qualified_key=filters.validated_data["value"])
            except LookupError as exc:
                raise ApplicationError(
                    f"Cannot filter by value: {exc.args[0] if exc.args else exc}.",
                    extra={"value": filters.validated_data["value"]},
                ) from None
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(text_list(q=filters.validated_data["q"], value=value), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class TextDetailApi(APIView):
    """One text with its pools: imported direction and prior, and the published intensity with its interval."""

    permission_classes = [IsResearcher]
    OutputSerializer = TextOutputSerializer

    @extend_schema(responses=TextOutputSerializer)
    def get(self, request: Request, text_id: int) -> Response:
        try:
            text = text_get(text_id=text_id)
        except Text.DoesNotExist:
            raise ApplicationError(f"No text has id {text_id}.", status_code=404) from None
        return Response(self.OutputSerializer(text).data)
