"""The versioned REST API (/api/v1/): each app contributes its own routes."""

from django.urls import include, path

from common import apis as common_apis

urlpatterns = [
    path("jobs/", common_apis.JobListApi.as_view(), name="api-job-list"),
    path("jobs/<int:job_id>/", common_apis.JobDetailApi.as_view(), name="api-job-detail"),
    path("", include("accounts.api_urls")),
    path("", include("labeling.api_urls")),
    path("", include("modeling.api_urls")),
]
