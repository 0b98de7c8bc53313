from django.urls import path

from accounts import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="api-me"),
    path("users/", apis.UserListApi.as_view(), name="api-user-list"),
]
