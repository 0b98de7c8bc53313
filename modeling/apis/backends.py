"""Model backends over the API (admins only): list and create, read and change one, and start a connection test.

No response ever holds an API key: a backend carries only `api_key_env`, the name of the environment variable that
holds its key on the workers, and `api_key_is_set`, whether that variable is set on this server.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsPlatformAdmin
from common.apis import JobOutputSerializer
from common.exceptions import ApplicationError
from modeling.models import ModelBackend
from modeling.services.backends import (
    backend_api_key_is_set,
    backend_create,
    backend_get,
    backend_list,
    backend_test_start,
    backend_update,
)


@extend_schema_serializer(component_name="ModelBackend")
class BackendOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    model = serializers.CharField()
    gguf_file = serializers.CharField()
    endpoint_url = serializers.CharField()
    api_key_env = serializers.CharField(help_text="Name of the environment variable holding the key (not the key).")
    api_key_is_set = serializers.SerializerMethodField()
    max_concurrency = serializers.IntegerField()
    timeout_s = serializers.FloatField()
    max_retries = serializers.IntegerField()
    generation = serializers.JSONField()
    is_active = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    def get_api_key_is_set(self, backend: ModelBackend) -> bool:
        return backend_api_key_is_set(backend)

    def get_url(self, backend: ModelBackend) -> str:
        return reverse("api-backend-detail", args=[backend.pk], request=self.context.get("request"))


class _BackendFields(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=ModelBackend.Kind.choices)
    model = serializers.CharField(max_length=300)
    gguf_file = serializers.CharField(max_length=300, required=False, allow_blank=True)
    endpoint_url = serializers.CharField(max_length=200, required=False, allow_blank=True)
    api_key_env = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text="The NAME of the environment variable holding the key, e.g. OPENAI_API_KEY; never the key.",
    )
    max_concurrency = serializers.IntegerField(required=False, min_value=1, max_value=256)
    timeout_s = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
    max_retries = serializers.IntegerField(required=False, min_value=0, max_value=20)
    generation = serializers.DictField(required=False, help_text="temperature, max_new_tokens, seed, batch_size, …")
    is_active = serializers.BooleanField(required=False)


class BackendListApi(APIView):
    """GET: every backend. POST: add one (201)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema_serializer(component_name="ModelBackendCreate")
    class InputSerializer(_BackendFields):
        pass

    @extend_schema(responses=BackendOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(BackendOutputSerializer(backend_list(), many=True, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={201: BackendOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        backend = backend_create(**serializer.validated_data, created_by=request.user)
        data = BackendOutputSerializer(backend, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class BackendDetailApi(APIView):
    """GET: one backend. PATCH: change some of its fields."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema_serializer(component_name="ModelBackendUpdate")
    class InputSerializer(_BackendFields):
        pass

    @extend_schema(responses=BackendOutputSerializer)
    def get(self, request: Request, backend_id: int) -> Response:
        backend = backend_get(backend_id=backend_id)
        return Response(BackendOutputSerializer(backend, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses=BackendOutputSerializer)
    def patch(self, request: Request, backend_id: int) -> Response:
        backend = backend_get(backend_id=backend_id)
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data:
            fields = list(_BackendFields().fields)
            raise ApplicationError("Send at least one field to change.", extra={"fields": fields})
        backend = backend_update(backend=backend, **serializer.validated_data)
        return Response(BackendOutputSerializer(backend, context={"request": request}).data)


class BackendTestApi(APIView):
    """POST: start a connection test job (202); poll /api/v1/jobs/<id>/ for its outcome."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(request=None, responses={202: JobOutputSerializer})
    def post(self, request: Request, backend_id: int) -> Response:
        backend = backend_get(backend_id=backend_id)
        job = backend_test_start(backend=backend, user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
