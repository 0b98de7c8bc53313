from django.urls import path  # noqa: F401

from modeling.apis import snapshots as snapshot_apis

urlpatterns: list = [
    path("snapshots/", snapshot_apis.SnapshotListApi.as_view(), name="api-snapshot-list"),
    path("snapshots/diff/", snapshot_apis.SnapshotDiffApi.as_view(), name="api-snapshot-diff"),
    path("snapshots/<int:snapshot_id>/", snapshot_apis.SnapshotDetailApi.as_view(), name="api-snapshot-detail"),
    path(
        "snapshots/<int:snapshot_id>/files/<path:filename>",
        snapshot_apis.SnapshotFileApi.as_view(),
        name="api-snapshot-file",
    ),
]
