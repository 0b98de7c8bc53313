"""Who am I (any logged-in user) and the user list (admins)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsPlatformAdmin


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    is_active = serializers.BooleanField()


class MeApi(APIView):
    """The logged-in user and their role (clients use it to decide which screens to offer)."""

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)


class UserListApi(APIView):
    """Every account with its role, ordered by username (admins only)."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses=UserOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(User.objects.order_by("username"), many=True).data)
