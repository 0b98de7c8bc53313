"""HiVES over the API (researchers): value profiles of texts, and the version registry — list, detail, start a
training run, pin or unpin a version."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.permissions import IsResearcher
from modeling.models import EmbeddingModel
from modeling.services.hives import hives_training_start, hives_version_get, hives_version_list, hives_version_pin
from modeling.services.profiling import DEFAULT_TOP, MAX_TEXT_CHARS, MAX_TEXTS, profile_texts


@extend_schema_serializer(component_name="HivesVersion")
class VersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    base_model = serializers.CharField()
    pooling = serializers.CharField()
    is_base = serializers.BooleanField()
    is_current = serializers.BooleanField()
    is_pinned = serializers.BooleanField()
    seed = serializers.IntegerField()
    data_watermark = serializers.JSONField()
    hyperparameters = serializers.JSONField()
    metrics = serializers.JSONField(help_text="Held-out metrics of this version (rank_acc, sim_corr, …).")
    base_metrics = serializers.JSONField(help_text="The untuned base model on the same held-out texts.")
    n_embedded = serializers.IntegerField()
    job_id = serializers.IntegerField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_url(self, version: EmbeddingModel) -> str:
        return reverse("api-hives-version-detail", args=[version.pk], request=self.context.get("request"))


class HivesVersionListApi(APIView):
    """HiVES versions, newest first (paginated), with their metrics beside the untuned base model's."""

    permission_classes = [IsResearcher]
    pagination_class = LimitOffsetPagination

    @extend_schema(responses=VersionOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(hives_version_list(), request, view=self)
        data = VersionOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class HivesVersionDetailApi(APIView):
    """One HiVES version, with its loss curve ([[step, loss], …])."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="HivesVersionDetail")
    class OutputSerializer(VersionOutputSerializer):
        loss_curve = serializers.JSONField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        version = hives_version_get(version_id=version_id)
        return Response(self.OutputSerializer(version, context={"request": request}).data)


class HivesVersionTrainApi(APIView):
    """Start a training run: 202 with the new version (status "training") and its job. 409 while a run is active."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="HivesTrain")
    class InputSerializer(serializers.Serializer):
        hyperparameters = serializers.DictField(
            required=False,
            default=dict,
            help_text="Overrides of the training settings, e.g. {\"stage1_epochs\": 2, \"stage2_steps\": 100, "
            "\"seed\": 7, \"held_out_fraction\": 0.2}. Unknown names are refused.",
        )
        base_model = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=300,
            help_text="A local model folder or cached model name; default: VALUEFLOW_HIVES_BASE_MODEL.",
        )

    @extend_schema_serializer(component_name="HivesTrainStarted")
    class OutputSerializer(serializers.Serializer):
        version = VersionOutputSerializer()
        job_id = serializers.IntegerField()
        job_url = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = hives_training_start(
            created_by=request.user,
            hyperparameters=serializer.validated_data["hyperparameters"],
            base_model=serializer.validated_data["base_model"],
            reason=f"started over the API by {request.user.get_username()}",
        )
        data = {
            "version": VersionOutputSerializer(version, context={"request": request}).data,
            "job_id": version.job_id,
            "job_url": reverse("api-job-detail", args=[version.job_id], request=request),
        }
        return Response(data, status=status.HTTP_202_ACCEPTED)


class HivesVersionPinApi(APIView):
    """Pin a version (it becomes the version in use and automatic promotion leaves it there) or unpin it with
    {"pinned": false}. A version without stored embeddings is embedded first: 202 with the job."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="HivesPin")
    class InputSerializer(serializers.Serializer):
        pinned = serializers.BooleanField(default=True)

    @extend_schema(request=InputSerializer, responses={200: VersionOutputSerializer, 202: VersionOutputSerializer})
    def post(self, request: Request, version_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = hives_version_get(version_id=version_id)
        job = hives_version_pin(version=version, pinned=serializer.validated_data["pinned"], user=request.user)
        version.refresh_from_db()
        data = VersionOutputSerializer(version, context={"request": request}).data
        if job is not None:
            return Response({**data, "embed_job_id": job.pk}, status=status.HTTP_202_ACCEPTED)
        return Response(data)


@extend_schema_serializer(component_name="ProfileValue")
class ProfileValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="theory:key")
    name = serializers.CharField()
    similarity = serializers.FloatField()
    direction = serializers.ChoiceField(choices=["supports", "opposes", "neutral"])
    intensity = serializers.FloatField(allow_null=True, help_text="Estimated intensity in [-10, 10].")
    intensity_source = serializers.CharField(allow_null=True, help_text="judge | neighbours")


@extend_schema_serializer(component_name="GroupProfileValue")
class GroupValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="theory:key")
    name = serializers.CharField()
    similarity = serializers.FloatField(help_text="Mean similarity over the texts.")
    direction = serializers.ChoiceField(choices=["supports", "opposes", "neutral"])
    intensity = serializers.FloatField(allow_null=True, help_text="Mean estimated intensity over the texts.")
    top_share = serializers.FloatField(help_text="Share of the texts with this value among their top values.")


class ProfileApi(APIView):
    """POST {"texts": [...], "top": 3}: for each text, per theory, the `top` nearest values with similarity,
    direction and intensity estimate, under the HiVES version in use; with two or more texts, a group profile too.
    409 when no HiVES version is in use yet."""

    permission_classes = [IsResearcher]

    @extend_schema_serializer(component_name="ProfileRequest")
    class InputSerializer(serializers.Serializer):
        texts = serializers.ListField(
            child=serializers.CharField(max_length=MAX_TEXT_CHARS, trim_whitespace=True),
            allow_empty=False,
            max_length=MAX_TEXTS,
        )
        top = serializers.IntegerField(min_value=1, max_value=20, default=DEFAULT_TOP)

    @extend_schema_serializer(component_name="Profile")
    class OutputSerializer(serializers.Serializer):
        version = serializers.DictField()
        texts = serializers.ListField(child=serializers.DictField())
        group = serializers.DictField(allow_null=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = profile_texts(texts=serializer.validated_data["texts"], top=serializer.validated_data["top"])

        def values(scores: list) -> list[dict]:
            # many=True makes a ListSerializer, whose data is a list (the stubs type it as one object's dict)
            return ProfileValueSerializer(scores, many=True).data  # type: ignore[return-value]

        group = None
        if profile.group is not None:
            group = {theory: GroupValueSerializer(entries, many=True).data for theory, entries in profile.group.items()}
        return Response(
            {
                "version": {"id": profile.version.pk, "name": profile.version.name},
                "texts": [
                    {"text": text.text, "theories": {theory: values(s) for theory, s in text.theories.items()}}
                    for text in profile.texts
                ],
                "group": group,
            }
        )


@extend_schema(exclude=True)
class ProfileSlashApi(ProfileApi):
    """/api/v1/profile/ answers like /api/v1/profile (a POST cannot follow a slash redirect); documented once."""
