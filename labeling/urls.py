"""HTML routes of the labeling app."""

from django.urls import path  # noqa: F401

from labeling.views import annotate as annotate_views
from labeling.views import campaigns as campaign_views
from labeling.views import crowd as crowd_views
from labeling.views import imports as import_views
from labeling.views import participants as participant_views
from labeling.views import quality as quality_views
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
    # quality control: review, setup, the disagreement queue
    path("campaigns/<int:campaign_id>/quality/", quality_views.quality_review, name="quality_review"),
    path("campaigns/<int:campaign_id>/quality/refresh/", quality_views.quality_refresh, name="quality_refresh"),
    path(
        "campaigns/<int:campaign_id>/quality/members/<int:member_id>/",
        quality_views.quality_member_state,
        name="quality_member_state",
    ),
    path("campaigns/<int:campaign_id>/quality/setup/", quality_views.quality_setup, name="quality_setup"),
    path("campaigns/<int:campaign_id>/quality/gold/", quality_views.quality_gold_create, name="quality_gold_create"),
    path(
        "campaigns/<int:campaign_id>/quality/gold/<int:gold_id>/",
        quality_views.quality_gold_toggle,
        name="quality_gold_toggle",
    ),
    path(
        "campaigns/<int:campaign_id>/quality/attention/",
        quality_views.quality_attention_create,
        name="quality_attention_create",
    ),
    path(
        "campaigns/<int:campaign_id>/quality/attention/<int:check_id>/",
        quality_views.quality_attention_toggle,
        name="quality_attention_toggle",
    ),
    path(
        "campaigns/<int:campaign_id>/quality/questions/",
        quality_views.quality_question_create,
        name="quality_question_create",
    ),
    path(
        "campaigns/<int:campaign_id>/quality/questions/<int:question_id>/delete/",
        quality_views.quality_question_delete,
        name="quality_question_delete",
    ),
    path("campaigns/<int:campaign_id>/adjudications/", quality_views.adjudication_queue, name="adjudication_queue"),
    path(
        "campaigns/<int:campaign_id>/adjudications/<int:adjudication_id>/",
        quality_views.adjudication_decide_view,
        name="adjudication_decide",
    ),
    # crowd platforms (Prolific, MTurk) and cohorts
    path("crowd/<int:campaign_id>/start/", crowd_views.crowd_start, name="crowd_start"),
    path("crowd/<int:campaign_id>/quiz/", crowd_views.crowd_quiz, name="crowd_quiz"),
    path("crowd/<int:campaign_id>/complete/", crowd_views.crowd_complete, name="crowd_complete"),
    path("crowd/<int:campaign_id>/return/", crowd_views.crowd_return, name="crowd_return"),
    path("cohorts/", crowd_views.cohort_list_view, name="cohort_list"),
    path("cohorts/<int:cohort_id>/", crowd_views.cohort_detail, name="cohort_detail"),
    path("cohorts/<int:cohort_id>/members/", crowd_views.cohort_members_add_view, name="cohort_members_add"),
    path(
        "cohorts/<int:cohort_id>/members/<int:user_id>/remove/",
        crowd_views.cohort_member_remove_view,
        name="cohort_member_remove",
    ),
    path("cohorts/<int:cohort_id>/campaigns/", crowd_views.cohort_campaigns_edit, name="cohort_campaigns_edit"),
]
