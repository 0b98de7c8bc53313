"""The value taxonomy over the API, read-only for any logged-in user: theories with their value trees, a value
search, one value with its neighbours and concepts, and the cross-theory concept map."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.selectors import concept_list, theory_tree_list, value_detail, value_search
from labeling.services.taxonomy import THEORY_ALIASES, normalise_key


class ValueRefSerializer(serializers.Serializer):
    """A value named by its theory and key: enough to link to it."""

    theory = serializers.CharField(source="theory.key")
    key = serializers.CharField()
    name = serializers.CharField()
    is_target = serializers.BooleanField()

    class Meta:
        ref_name = "TaxonomyValueRef"


class ValueTreeNodeSerializer(serializers.Serializer):
    """A value and, recursively, its children (a value with two parents appears under both)."""

    key = serializers.CharField(source="value.key")
    name = serializers.CharField(source="value.name")
    definition = serializers.CharField(source="value.definition")
    level = serializers.IntegerField(source="value.level")
    is_target = serializers.BooleanField(source="value.is_target")

    class Meta:
        ref_name = "TaxonomyValueTreeNode"

    def get_fields(self) -> dict[str, serializers.Field]:
        # Added here rather than as a class attribute because the class cannot refer to itself while being defined.
        fields = super().get_fields()
        fields["children"] = ValueTreeNodeSerializer(many=True)
        return fields


class TheoryListApi(APIView):
    """The four theories, each with its values as a nested tree."""

    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField(source="theory.key")
        name = serializers.CharField(source="theory.name")
        description = serializers.CharField(source="theory.description")
        value_count = serializers.IntegerField()
        target_count = serializers.IntegerField()
        values = ValueTreeNodeSerializer(source="roots", many=True)

        class Meta:
            ref_name = "TaxonomyTheory"

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(theory_tree_list(), many=True).data)


class ValueListApi(APIView):
    """Values of all theories, filtered by `theory` (key or alias such as pvq), `target` and a text query `q`."""

    class FilterSerializer(serializers.Serializer):
        theory = serializers.CharField(
            required=False, allow_blank=True, default="",
            help_text="theory key: svt, mft, duties, rights (or an alias: pvq, duty, right)",
        )
        target = serializers.BooleanField(
            required=False, allow_null=True, default=None,
            help_text="true: only the 32 target values; false: only the others",
        )
        q = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=100,
            help_text="words in the value's key, name or definition (any case)",
        )

        class Meta:
            ref_name = "TaxonomyValueFilter"

        def validate_theory(self, theory: str) -> str:
            if not theory.strip():
                return ""
            key = THEORY_ALIASES.get(normalise_key(theory))
            if key is None:
                known = ", ".join(sorted(set(THEORY_ALIASES.values())))
                raise serializers.ValidationError(
                    f"unknown theory {theory!r} (known: {known}; aliases such as pvq work too)"
                )
            return key

    class OutputSerializer(serializers.Serializer):
        theory = serializers.CharField(source="theory.key")
        key = serializers.CharField()
        qualified_key = serializers.CharField()
        name = serializers.CharField()
        definition = serializers.CharField()
        level = serializers.IntegerField()
        is_target = serializers.BooleanField()
        parents = serializers.SerializerMethodField(help_text="keys of the value's parents in the same theory")

        class Meta:
            ref_name = "TaxonomyValue"

        def get_parents(self, value) -> list[str]:  # type: ignore[no-untyped-def]
            return [edge.parent.key for edge in value.parent_edges.all()]

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = value_search(
            theory_key=filters.validated_data["theory"] or None,
            target=filters.validated_data["target"],
            query=filters.validated_data["q"].strip(),
        )
        return Response(self.OutputSerializer(values, many=True).data)


class ValueDetailApi(APIView):
    """One value: its definition, place in the hierarchy, cross-theory concepts and pool size."""

    class OutputSerializer(serializers.Serializer):
        class ConceptSerializer(serializers.Serializer):
            key = serializers.CharField()
            name = serializers.CharField()
            definition = serializers.CharField()
            values = ValueRefSerializer(source="values.all", many=True)

            class Meta:
                ref_name = "TaxonomyValueConcept"

        theory = serializers.CharField(source="theory.key")
        theory_name = serializers.CharField(source="theory.name")
        key = serializers.CharField()
        qualified_key = serializers.CharField()
        name = serializers.CharField()
        definition = serializers.CharField()
        level = serializers.IntegerField()
        is_target = serializers.BooleanField()
        pool_size = serializers.IntegerField(help_text="texts in this value's pool")
        parents = ValueRefSerializer(source="parent_values", many=True)
        children = ValueRefSerializer(source="child_values", many=True)
        concepts = ConceptSerializer(source="concepts.all", many=True)

        class Meta:
            ref_name = "TaxonomyValueDetail"

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, theory_key: str, value_key: str) -> Response:
        value = value_detail(theory_key=theory_key, value_key=value_key)
        if value is None:
            raise NotFound(
                f"No value {value_key!r} in theory {theory_key!r} (use the canonical keys of /api/v1/values/)."
            )
        return Response(self.OutputSerializer(value).data)


class ConceptListApi(APIView):
    """Cross-theory concepts: each links values of at least two theories that express the same idea."""

    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField()
        name = serializers.CharField()
        definition = serializers.CharField()
        theories = serializers.SerializerMethodField(help_text="keys of the theories the concept spans")
        values = ValueRefSerializer(source="values.all", many=True)

        class Meta:
            ref_name = "TaxonomyConcept"

        def get_theories(self, concept) -> list[str]:  # type: ignore[no-untyped-def]
            theories = [value.theory for value in concept.values.all()]
            return [theory.key for theory in sorted(set(theories), key=lambda theory: theory.order)]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(concept_list(), many=True).data)
