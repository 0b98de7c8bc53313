"""/metrics for Prometheus. Only a scraper may read it: with VALUEFLOW_METRICS_TOKEN set, a request must send
`Authorization: Bearer <token>`; without a token, only requests from the loopback interface are answered (a
scraper on the same machine, or a sidecar). Anyone else gets 403 with the reason."""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from modeling.metrics import metrics_exposition

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _from_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _may_scrape(request: HttpRequest) -> tuple[bool, str]:
    token = settings.VALUEFLOW_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(sent[len("Bearer "):].encode(), token.encode()):
            return True, ""
        return False, "Send the metrics token as `Authorization: Bearer <token>` (VALUEFLOW_METRICS_TOKEN)."
    if _from_loopback(request):
        return True, ""
    return False, "Metrics are served to loopback only; set VALUEFLOW_METRICS_TOKEN to scrape from elsewhere."


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    allowed, reason = _may_scrape(request)
    if not allowed:
        return JsonResponse({"message": reason, "extra": {}}, status=403)
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE)
