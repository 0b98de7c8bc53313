"""Job pages (a live progress bar polled by htmx), the health check and the readiness check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from accounts.permissions import researcher_required
from common.http import HtmxHttpRequest
from common.readiness import readiness_report
from common.selectors import job_list_visible_to


@researcher_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = job_list_visible_to(user=request.user)[:200]
    return render(request, "common/job_list.html", {"jobs": jobs})


@login_required
def job_detail(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(job_list_visible_to(user=request.user), pk=job_id)
    template = "common/job_detail.html#job-progress" if request.htmx else "common/job_detail.html"
    return render(request, template, {"job": job})


def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database readiness in one cheap request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers: 200 when PostgreSQL, the cache and the broker answer; 503 naming the ones that
    do not (common/readiness.py)."""
    report = readiness_report()
    return JsonResponse(report, status=200 if report["status"] == "ready" else 503)
