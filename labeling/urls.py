"""HTML routes of the labeling app."""

from django.urls import path  # noqa: F401

from labeling.views import annotate as annotate_views
from labeling.views import campaigns as campaign_views
from labeling.views import imports as import_views
from labeling.views import participants as participant_views
from labeling.views import taxonomy as taxonomy_views
from labeling.views import texts as text_views


app_name = "labeling"
urlpatterns: list = [
    path("imports/", import_views.import_upload, name="import_upload"),
    path("texts/", text_views.text_list_view, name="text_list"),
    path("texts/<int:text_id>/", text_views.text_detail, name="text_detail"),
    path("taxonomy/", taxonomy_views.taxonomy, name="taxonomy"),
    path("taxonomy/<slug:theory_key>/<slug:value_key>/", taxonomy_views.value_detail_page, name="value_detail"),
    path("campaigns/", campaign_views.campaign_list_view, name="campaign_list"),
    path("campaigns/new/", campaign_views.campaign_create_view, name="campaign_create"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/status/", campaign_views.campaign_status_update, name="campaign_status_update"),
    path(
        "campaigns/<int:campaign_id>/instructions/",
        campaign_views.campaign_instructions_edit,
        name="campaign_instructions_edit",
    ),
    path("annotate/", annotate_views.annotate_home, name="annotate_home"),
    path("annotate/<int:campaign_id>/", annotate_views.annotate, name="annotate"),
    path("annotate/<int:campaign_id>/submit/", annotate_views.annotate_submit, name="annotate_submit"),
    path("annotate/<int:campaign_id>/undo/", annotate_views.annotate_undo, name="annotate_undo"),
    path(
        "participants/<int:user_id>/withdraw/",
        participant_views.participant_withdraw_view,
        name="participant_withdraw",
    ),
]
