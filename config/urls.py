"""Top-level routes: HTML pages per app, the versioned REST API, its schema and docs, Django admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common import views as common_views
from labeling.views.home import home
from modeling.views import operations as operations_views

urlpatterns = [
    path("", home, name="home"),
    path("", include("labeling.urls")),
    path("accounts/", include("accounts.urls")),
    path("modeling/", include("modeling.urls")),
    path("jobs/", common_views.job_list, name="job_list"),
    path("jobs/<int:job_id>/", common_views.job_detail, name="job_detail"),
    path("health/", common_views.health, name="health"),
    path("ready/", common_views.ready, name="ready"),
    path("metrics", operations_views.metrics, name="metrics"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("django-admin/", admin.site.urls),
]
