from django.urls import path  # noqa: F401

from modeling.views import dashboard as dashboard_views
from modeling.views import snapshots as snapshot_views

app_name = "modeling"
urlpatterns: list = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("values/<slug:theory_key>/<slug:value_key>/", dashboard_views.value_intensities, name="value_intensities"),
    path("values/<slug:theory_key>/<slug:value_key>/refit/", dashboard_views.value_refit, name="value_refit"),
    path("snapshots/", snapshot_views.snapshot_list_view, name="snapshot_list"),
    path("snapshots/diff/", snapshot_views.snapshot_diff_view, name="snapshot_diff"),
    path("snapshots/<int:snapshot_id>/", snapshot_views.snapshot_detail, name="snapshot_detail"),
    path("snapshots/<int:snapshot_id>/download.zip", snapshot_views.snapshot_download_zip, name="snapshot_download_zip"),
    path(
        "snapshots/<int:snapshot_id>/download/<path:filename>",
        snapshot_views.snapshot_download,
        name="snapshot_download",
    ),
]
