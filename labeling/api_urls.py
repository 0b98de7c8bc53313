from django.urls import path  # noqa: F401

from labeling.apis import imports as import_apis
from labeling.apis import taxonomy as taxonomy_apis
from labeling.apis import texts as text_apis

urlpatterns: list = [
    path("theories/", taxonomy_apis.TheoryListApi.as_view(), name="api-theory-list"),
    path("values/", taxonomy_apis.ValueListApi.as_view(), name="api-value-list"),
    path("values/<slug:theory_key>/<slug:value_key>/", taxonomy_apis.ValueDetailApi.as_view(), name="api-value-detail"),
    path("concepts/", taxonomy_apis.ConceptListApi.as_view(), name="api-concept-list"),
    path("imports/", import_apis.ImportApi.as_view(), name="api-imports"),
    path("texts/", text_apis.TextListApi.as_view(), name="api-text-list"),
    path("texts/<int:text_id>/", text_apis.TextDetailApi.as_view(), name="api-text-detail"),
]
