"""Who am I (any logged-in user) and the user list (admins)."""

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
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)


class UserListApi(APIView):
    permission_classes = [IsPlatformAdmin]

    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(User.objects.order_by("username"), many=True).data)
