from django.urls import path  # noqa: F401

from labeling.apis import imports as import_apis
from labeling.apis import texts as text_apis

urlpatterns: list = [
    path("imports/", import_apis.ImportApi.as_view(), name="api-imports"),
    path("texts/", text_apis.TextListApi.as_view(), name="api-text-list"),
    path("texts/<int:text_id>/", text_apis.TextDetailApi.as_view(), name="api-text-detail"),
]
