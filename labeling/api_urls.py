from django.urls import path  # noqa: F401

from labeling.apis import annotate as annotate_apis
from labeling.apis import campaigns as campaign_apis
from labeling.apis import imports as import_apis
from labeling.apis import quality as quality_apis
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
    path("campaigns/", campaign_apis.CampaignListApi.as_view(), name="api-campaign-list"),
    path("campaigns/<int:campaign_id>/", campaign_apis.CampaignDetailApi.as_view(), name="api-campaign-detail"),
    path("campaigns/<int:campaign_id>/status/", campaign_apis.CampaignStatusApi.as_view(), name="api-campaign-status"),
    path("campaigns/<int:campaign_id>/next/", annotate_apis.CampaignNextApi.as_view(), name="api-campaign-next"),
    path(
        "campaigns/<int:campaign_id>/progress/",
        annotate_apis.CampaignProgressApi.as_view(),
        name="api-campaign-progress",
    ),
    path(
        "assignments/<int:assignment_id>/submit/",
        annotate_apis.AssignmentSubmitApi.as_view(),
        name="api-assignment-submit",
    ),
    path("judgments/<int:judgment_id>/undo/", annotate_apis.JudgmentUndoApi.as_view(), name="api-judgment-undo"),
    # quality control and cohorts (researchers)
    path(
        "campaigns/<int:campaign_id>/quality/", quality_apis.CampaignQualityApi.as_view(), name="api-campaign-quality"
    ),
    path(
        "campaigns/<int:campaign_id>/members/<int:member_id>/state/",
        quality_apis.CampaignMemberStateApi.as_view(),
        name="api-campaign-member-state",
    ),
    path(
        "campaigns/<int:campaign_id>/adjudications/",
        quality_apis.CampaignAdjudicationListApi.as_view(),
        name="api-campaign-adjudications",
    ),
    path(
        "adjudications/<int:adjudication_id>/decide/",
        quality_apis.AdjudicationDecideApi.as_view(),
        name="api-adjudication-decide",
    ),
    path("cohorts/", quality_apis.CohortListApi.as_view(), name="api-cohort-list"),
    path("cohorts/<int:cohort_id>/members/", quality_apis.CohortMembersApi.as_view(), name="api-cohort-members"),
    path("cohorts/<int:cohort_id>/campaigns/", quality_apis.CohortCampaignsApi.as_view(), name="api-cohort-campaigns"),
]
