"""Navigation entries shown in the base layout, filtered by the user's role."""

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (label, url name, minimum role). Roles: "any" (logged in), "researcher" (researchers and admins), "admin".
# The order is the order of the menu; each role sees its own work first.
NAVIGATION: list[tuple[str, str, str]] = [
    ("Home", "home", "any"),
    ("Annotate", "labeling:annotate_home", "any"),
    ("Taxonomy", "labeling:taxonomy", "any"),
    ("Texts", "labeling:text_list", "researcher"),
    ("Import", "labeling:import_upload", "researcher"),
    ("Campaigns", "labeling:campaign_list", "researcher"),
    ("Intensities", "modeling:dashboard", "researcher"),
    ("Snapshots", "modeling:snapshot_list", "researcher"),
    ("Planner", "modeling:planner", "researcher"),
    ("HiVES", "modeling:hives_version_list", "researcher"),
    ("Profile", "modeling:profile", "researcher"),
    ("Evaluations", "modeling:evaluation_list", "researcher"),
    ("Query sets", "modeling:query_set_list", "researcher"),
    ("Backends", "modeling:backend_list", "admin"),
    ("Jobs", "job_list", "researcher"),
    ("Users", "accounts:user_list", "admin"),
    ("API", "swagger-ui", "any"),
]


def _is_active(request_path: str, url: str) -> bool:
    """The home page is active only on itself; any other entry also on the pages below it."""
    if url == "/":
        return request_path == "/"
    return request_path == url or request_path.startswith(url)


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    allowed = {"any": True, "researcher": user.is_researcher, "admin": user.is_platform_admin}
    items = []
    for label, url_name, role in NAVIGATION:
        if not allowed[role]:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue  # a page that is not part of this deployment yet stays out of the menu
        items.append({"label": label, "url": url, "active": _is_active(request.path, url)})
    return {"nav_items": items}
