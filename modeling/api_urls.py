from django.urls import path  # noqa: F401

from modeling.apis import backends as backend_apis
from modeling.apis import evaluations as evaluation_apis
from modeling.apis import fits as fit_apis
from modeling.apis import hives as hives_apis
from modeling.apis import planner as planner_apis
from modeling.apis import query_sets as query_set_apis
from modeling.apis import reliability as reliability_apis
from modeling.apis import snapshots as snapshot_apis

urlpatterns: list = [
    path(
        "values/<slug:theory_key>/<slug:value_key>/intensities/",
        fit_apis.ValueIntensityListApi.as_view(),
        name="api-value-intensities",
    ),
    path("values/<slug:theory_key>/<slug:value_key>/fits/", fit_apis.ValueFitListApi.as_view(), name="api-value-fits"),
    path("values/<slug:theory_key>/<slug:value_key>/refit/", fit_apis.ValueRefitApi.as_view(), name="api-value-refit"),
    path(
        "values/<slug:theory_key>/<slug:value_key>/annotators/",
        fit_apis.ValueAnnotatorListApi.as_view(),
        name="api-value-annotators",
    ),
    path(
        "values/<slug:theory_key>/<slug:value_key>/reliability/",
        reliability_apis.ValueReliabilityApi.as_view(),
        name="api-value-reliability",
    ),
    path("snapshots/", snapshot_apis.SnapshotListApi.as_view(), name="api-snapshot-list"),
    path(
        "campaigns/<int:campaign_id>/llm-annotators/",
        reliability_apis.CampaignLlmAnnotatorStartApi.as_view(),
        name="api-campaign-llm-annotators",
    ),
    path("planner/", planner_apis.BudgetPlanApi.as_view(), name="api-budget-plan"),
    path("snapshots/diff/", snapshot_apis.SnapshotDiffApi.as_view(), name="api-snapshot-diff"),
    path("snapshots/<int:snapshot_id>/", snapshot_apis.SnapshotDetailApi.as_view(), name="api-snapshot-detail"),
    path(
        "snapshots/<int:snapshot_id>/files/<path:filename>",
        snapshot_apis.SnapshotFileApi.as_view(),
        name="api-snapshot-file",
    ),
    path("backends/", backend_apis.BackendListApi.as_view(), name="api-backend-list"),
    path("backends/<int:backend_id>/", backend_apis.BackendDetailApi.as_view(), name="api-backend-detail"),
    path("backends/<int:backend_id>/test/", backend_apis.BackendTestApi.as_view(), name="api-backend-test"),
    path("query-sets/", query_set_apis.QuerySetListApi.as_view(), name="api-query-set-list"),
    path("query-sets/default/", query_set_apis.QuerySetLoadDefaultApi.as_view(), name="api-query-set-default"),
    path("query-sets/<int:query_set_id>/", query_set_apis.QuerySetDetailApi.as_view(), name="api-query-set-detail"),
    path("evaluations/", evaluation_apis.EvaluationListApi.as_view(), name="api-evaluation-list"),
    path(
        "evaluations/<int:evaluation_id>/", evaluation_apis.EvaluationDetailApi.as_view(), name="api-evaluation-detail"
    ),
    path(
        "evaluations/<int:evaluation_id>/launch/",
        evaluation_apis.EvaluationLaunchApi.as_view(),
        name="api-evaluation-launch",
    ),
    path(
        "evaluations/<int:evaluation_id>/collect/",
        evaluation_apis.EvaluationCollectApi.as_view(),
        name="api-evaluation-collect",
    ),
    path("profile", hives_apis.ProfileApi.as_view(), name="api-profile"),
    path("profile/", hives_apis.ProfileSlashApi.as_view(), name="api-profile-slash"),
    path("hives/versions/", hives_apis.HivesVersionListApi.as_view(), name="api-hives-version-list"),
    path("hives/versions/train/", hives_apis.HivesVersionTrainApi.as_view(), name="api-hives-train"),
    path(
        "hives/versions/<int:version_id>/", hives_apis.HivesVersionDetailApi.as_view(), name="api-hives-version-detail"
    ),
    path("hives/versions/<int:version_id>/pin/", hives_apis.HivesVersionPinApi.as_view(), name="api-hives-pin"),
]
