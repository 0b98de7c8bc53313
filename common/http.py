"""The request type of views that read `request.htmx`: Django's HttpRequest with what django-htmx's middleware
(installed for every request) adds, so the type checker knows the attribute."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
