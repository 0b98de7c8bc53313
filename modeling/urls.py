from django.urls import path  # noqa: F401

from modeling.views import backends as backend_views
from modeling.views import dashboard as dashboard_views
from modeling.views import evaluations as evaluation_views
from modeling.views import hives as hives_views
from modeling.views import planner as planner_views
from modeling.views import query_sets as query_set_views
from modeling.views import reliability as reliability_views
from modeling.views import snapshots as snapshot_views

app_name = "modeling"
urlpatterns: list = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("values/<slug:theory_key>/<slug:value_key>/", dashboard_views.value_intensities, name="value_intensities"),
    path("values/<slug:theory_key>/<slug:value_key>/refit/", dashboard_views.value_refit, name="value_refit"),
    path(
        "values/<slug:theory_key>/<slug:value_key>/annotators/",
        reliability_views.value_annotators,
        name="value_annotators",
    ),
    path("llm-annotators/", reliability_views.llm_annotator_add, name="llm_annotator_add"),
    path("planner/", planner_views.planner, name="planner"),
    path("snapshots/", snapshot_views.snapshot_list_view, name="snapshot_list"),
    path("snapshots/diff/", snapshot_views.snapshot_diff_view, name="snapshot_diff"),
    path("snapshots/<int:snapshot_id>/", snapshot_views.snapshot_detail, name="snapshot_detail"),
    path(
        "snapshots/<int:snapshot_id>/download.zip", snapshot_views.snapshot_download_zip, name="snapshot_download_zip"
    ),
    path(
        "snapshots/<int:snapshot_id>/download/<path:filename>",
        snapshot_views.snapshot_download,
        name="snapshot_download",
    ),
    path("backends/", backend_views.backend_list_view, name="backend_list"),
    path("backends/new/", backend_views.backend_create_view, name="backend_create"),
    path("backends/<int:backend_id>/", backend_views.backend_edit_view, name="backend_edit"),
    path("backends/<int:backend_id>/test/", backend_views.backend_test_view, name="backend_test"),
    path("query-sets/", query_set_views.query_set_list_view, name="query_set_list"),
    path("query-sets/default/", query_set_views.query_set_load_default_view, name="query_set_load_default"),
    path("query-sets/<int:query_set_id>/", query_set_views.query_set_detail_view, name="query_set_detail"),
    path("query-sets/<int:query_set_id>/delete/", query_set_views.query_set_delete_view, name="query_set_delete"),
    path("evaluations/", evaluation_views.evaluation_list_view, name="evaluation_list"),
    path("evaluations/new/", evaluation_views.evaluation_create_view, name="evaluation_create"),
    path("evaluations/plan/", evaluation_views.evaluation_plan_view, name="evaluation_plan"),
    path("evaluations/compare/", evaluation_views.evaluation_compare_view, name="evaluation_compare"),
    path("evaluations/<int:evaluation_id>/", evaluation_views.evaluation_detail_view, name="evaluation_detail"),
    path("evaluations/<int:evaluation_id>/launch/", evaluation_views.evaluation_launch_view, name="evaluation_launch"),
    path(
        "evaluations/<int:evaluation_id>/collect/", evaluation_views.evaluation_collect_view, name="evaluation_collect"
    ),
    path(
        "evaluations/<int:evaluation_id>/export/<int:backend_id>/<slug:kind>.csv",
        evaluation_views.evaluation_export_view,
        name="evaluation_export",
    ),
    path("hives/", hives_views.hives_version_list_view, name="hives_version_list"),
    path("hives/<int:version_id>/", hives_views.hives_version_detail, name="hives_version_detail"),
    path("hives/<int:version_id>/pin/", hives_views.hives_version_pin_view, name="hives_version_pin"),
    path("profile/", hives_views.profile_view, name="profile"),
]
