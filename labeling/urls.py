"""HTML routes of the labeling app."""

from django.urls import path  # noqa: F401

from labeling.views import imports as import_views
from labeling.views import taxonomy as taxonomy_views
from labeling.views import texts as text_views


app_name = "labeling"
urlpatterns: list = [
    path("imports/", import_views.import_upload, name="import_upload"),
    path("texts/", text_views.text_list_view, name="text_list"),
    path("texts/<int:text_id>/", text_views.text_detail, name="text_detail"),
    path("taxonomy/", taxonomy_views.taxonomy, name="taxonomy"),
    path("taxonomy/<slug:theory_key>/<slug:value_key>/", taxonomy_views.value_detail_page, name="value_detail"),
]
