"""Reads of jobs, filtered by who may see them."""

from typing import Any

from django.db.models import QuerySet

from common.models import Job


def job_list_visible_to(*, user: Any) -> QuerySet[Job]:
    """Researchers and admins see every job; anyone else sees only the jobs they started."""
    jobs = Job.objects.select_related("created_by")
    if getattr(user, "is_researcher", False):
        return jobs
    return jobs.filter(created_by=user)
