"""Who may use which URL: for every URL pattern of ValueFlow, the least role that may GET it and, for each unsafe
method the endpoint takes (POST, PUT, PATCH, DELETE), the least role that may use that method. Roles are ordered
anonymous < annotator < researcher < admin.

tests/test_permission_matrix.py checks every entry against every role, and fails when the project has a URL pattern
this table does not declare: a new endpoint is added here in the same change, with its rule.

The Django admin (/django-admin/) is declared once, as "staff": Django's own permission system guards it, and
only admins get the staff flag (accounts.services.user_role_set).

Decisions recorded here:
- /api/schema/ and /api/docs/ are public. The OpenAPI schema documents the endpoints, which every client needs to
  know, and holds no data; every data endpoint it lists still checks the caller's role.
- /health/ is public so that load balancers and Docker healthchecks can call it; it reveals only "ok". /ready/ is
  public for the same reason; it names which dependency (database, cache, broker) failed, nothing more.
- /metrics is guarded by a token or the loopback interface rather than a role: Prometheus scrapers have no session.
- A job is visible to its creator and to researchers and admins. Others get 404 rather than 403, so job ids
  do not reveal what exists; test_permission_matrix.py checks that separately.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ANONYMOUS = "anonymous"
ANNOTATOR = "annotator"
RESEARCHER = "researcher"
ADMIN = "admin"
ROLES = (ANONYMOUS, ANNOTATOR, RESEARCHER, ADMIN)
STAFF = "staff"

# The Django admin's URL prefix; its many patterns are declared as this one entry.
ADMIN_SITE_PREFIX = "django-admin/"


# A snapshot freezes published fits, which need judgments and a fit run: more than a permission test should build.
# These views check the role first (researcher_required / IsResearcher) and look the snapshot up afterwards, so a
# 404 for a snapshot id that does not exist means the caller got past the permission check.
NO_SAMPLE_SNAPSHOT = "no sample snapshot exists; the role check runs before the snapshot lookup"
# Model backends, query sets and steering evaluations are looked up after the role check too (admin_required /
# IsPlatformAdmin / researcher_required come first), so an id that does not exist shows the check was passed.
NO_SAMPLE_STEERING_OBJECT = "no sample backend or query set exists; the role check runs before the lookup"
MISSING_ID = 2_000_000_000
# Gold comparisons, attention checks, quiz questions, adjudications and cohorts are looked up after the role check
# (researcher_required / IsResearcher come first), so an id that does not exist shows the check was passed.
NO_SAMPLE_QC_OBJECT = "no sample gold pair, attention check, question, adjudication or cohort; the role check is first"


# Submitting or undoing an answer acts on the caller's own comparison or judgment. The sample request names none of
# the caller's, so every logged-in role gets the ownership lookup's 404 — which comes after the login check.
NOT_THE_CALLERS_OWN = "the request names no comparison or judgment of the caller's; the ownership lookup answers 404"


def _campaign(objects: Any) -> dict[str, Any]:
    """The sample (running) campaign, for routes whose only parameter is campaign_id."""
    return {"campaign_id": objects.campaign.pk}


@dataclass(frozen=True)
class Endpoint:
    # The pattern as Django spells it, from the site root, e.g. "api/v1/jobs/<int:job_id>/".
    route: str
    # Least role that may GET it; None when the endpoint refuses GET (405) for everyone.
    get: str | None
    # Least role that may POST to it; None when the endpoint takes no POST. Likewise for PUT, PATCH and DELETE.
    post: str | None = None
    put: str | None = None
    patch: str | None = None
    delete: str | None = None
    # Sample values for the pattern's parameters, built from the objects test_permission_matrix.py creates.
    kwargs: Callable[[Any], dict[str, Any]] | None = None
    # Why a 404 for the sample object still shows the permission check was passed (empty: a 404 is a failure).
    missing_object_ok: str = ""
    note: str = ""

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def methods(self) -> dict[str, str]:
        """Each method the endpoint takes, with the least role that may use it."""
        declared = {"GET": self.get, "POST": self.post, "PUT": self.put, "PATCH": self.patch, "DELETE": self.delete}
        return {method: role for method, role in declared.items() if role is not None}


ENDPOINTS: list[Endpoint] = [
    # --- pages every logged-in user sees ---------------------------------------------------------------------
    Endpoint("", get=ANNOTATOR, note="home: the theories and target values"),
    Endpoint("taxonomy/", get=ANNOTATOR),
    Endpoint(
        "taxonomy/<slug:theory_key>/<slug:value_key>/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    # --- annotating (any logged-in user; annotators see running campaigns only) --------------------------------
    Endpoint("annotate/", get=ANNOTATOR),
    Endpoint("annotate/<int:campaign_id>/", get=ANNOTATOR, kwargs=lambda objects: {"campaign_id": objects.campaign.pk}),
    Endpoint(
        "annotate/<int:campaign_id>/submit/",
        get=None,
        post=ANNOTATOR,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
        missing_object_ok=NOT_THE_CALLERS_OWN,
    ),
    Endpoint(
        "annotate/<int:campaign_id>/undo/",
        get=None,
        post=ANNOTATOR,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
        missing_object_ok=NOT_THE_CALLERS_OWN,
    ),
    # --- researchers: campaigns -------------------------------------------------------------------------------
    Endpoint("campaigns/", get=RESEARCHER),
    Endpoint("campaigns/new/", get=RESEARCHER, post=RESEARCHER),
    Endpoint(
        "campaigns/<int:campaign_id>/", get=RESEARCHER, kwargs=lambda objects: {"campaign_id": objects.campaign.pk}
    ),
    Endpoint(
        "campaigns/<int:campaign_id>/status/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
    ),
    Endpoint(
        "campaigns/<int:campaign_id>/instructions/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
    ),
    # --- researchers: quality control, the disagreement queue, cohorts ------------------------------------------
    Endpoint("campaigns/<int:campaign_id>/quality/", get=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "campaigns/<int:campaign_id>/quality/refresh/", get=None, post=RESEARCHER, kwargs=_campaign,
        note="starts the recompute job (enqueued on commit)",
    ),
    Endpoint(
        "campaigns/<int:campaign_id>/quality/members/<int:member_id>/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {
            "campaign_id": objects.campaign.pk,
            "member_id": objects.campaign.members.get(annotator=objects.users[ANNOTATOR]).pk,
        },
        note="the empty POST names no state: 400 with the reason on the page",
    ),
    Endpoint("campaigns/<int:campaign_id>/quality/setup/", get=RESEARCHER, post=RESEARCHER, kwargs=_campaign),
    Endpoint("campaigns/<int:campaign_id>/quality/gold/", get=None, post=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "campaigns/<int:campaign_id>/quality/gold/<int:gold_id>/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk, "gold_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint("campaigns/<int:campaign_id>/quality/attention/", get=None, post=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "campaigns/<int:campaign_id>/quality/attention/<int:check_id>/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk, "check_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint("campaigns/<int:campaign_id>/quality/questions/", get=None, post=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "campaigns/<int:campaign_id>/quality/questions/<int:question_id>/delete/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk, "question_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint("campaigns/<int:campaign_id>/adjudications/", get=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "campaigns/<int:campaign_id>/adjudications/<int:adjudication_id>/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk, "adjudication_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint("cohorts/", get=RESEARCHER, post=RESEARCHER, note="POST creates a cohort (the empty POST: 400)"),
    Endpoint(
        "cohorts/<int:cohort_id>/", get=RESEARCHER, kwargs=lambda objects: {"cohort_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint(
        "cohorts/<int:cohort_id>/members/", get=None, post=RESEARCHER, kwargs=lambda objects: {"cohort_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint(
        "cohorts/<int:cohort_id>/members/<int:user_id>/remove/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"cohort_id": MISSING_ID, "user_id": objects.other_annotator.pk},
        missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint(
        "cohorts/<int:cohort_id>/campaigns/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"cohort_id": MISSING_ID},
        note="an unknown cohort or an empty POST is sent back to the cohort list",
    ),
    # --- crowd participants (Prolific, MTurk) -----------------------------------------------------------------
    Endpoint(
        "crowd/<int:campaign_id>/start/", get=ANONYMOUS, kwargs=_campaign,
        note="the crowd platform's link logs participants in; without its parameters: 400 naming them",
    ),
    Endpoint(
        "crowd/<int:campaign_id>/quiz/", get=ANNOTATOR, post=ANNOTATOR, kwargs=_campaign,
        note="the sample campaign asks no quiz: straight on to the work page",
    ),
    Endpoint(
        "crowd/<int:campaign_id>/complete/", get=ANNOTATOR, kwargs=_campaign,
        note="without a crowd session: back to the annotator's campaigns",
    ),
    Endpoint("crowd/<int:campaign_id>/return/", get=ANNOTATOR, post=ANNOTATOR, kwargs=_campaign),
    # --- researchers: intensities and refits ------------------------------------------------------------------
    Endpoint("modeling/", get=RESEARCHER, note="the intensities dashboard"),
    Endpoint(
        "modeling/values/<slug:theory_key>/<slug:value_key>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint(
        "modeling/values/<slug:theory_key>/<slug:value_key>/refit/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
        note="starts a refit job; GET is refused with 405 before any login check",
    ),
    # --- researchers: HiVES value embedding and text profiles ---------------------------------------------------
    Endpoint("modeling/hives/", get=RESEARCHER, post=RESEARCHER, note="POST starts a training run"),
    Endpoint(
        "modeling/hives/<int:version_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"version_id": objects.hives_version.pk},
    ),
    Endpoint(
        "modeling/hives/<int:version_id>/pin/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"version_id": objects.hives_version.pk},
    ),
    Endpoint("modeling/profile/", get=RESEARCHER, post=RESEARCHER, note="POST profiles the given texts"),
    # --- researchers: texts and imports -----------------------------------------------------------------------
    Endpoint("texts/", get=RESEARCHER),
    Endpoint("texts/<int:text_id>/", get=RESEARCHER, kwargs=lambda objects: {"text_id": objects.text.pk}),
    Endpoint("imports/", get=RESEARCHER, post=RESEARCHER, note="POST uploads files and starts an import job"),
    # --- researchers: VIDB snapshots ---------------------------------------------------------------------------
    Endpoint("modeling/snapshots/", get=RESEARCHER, post=RESEARCHER, note="POST freezes published fits"),
    Endpoint("modeling/snapshots/diff/", get=RESEARCHER),
    # --- researchers: annotator reliability and budget planning; admins: LLM annotators --------------------------
    Endpoint(
        "modeling/values/<slug:theory_key>/<slug:value_key>/annotators/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint("modeling/planner/", get=RESEARCHER, post=RESEARCHER, note="POST starts a simulation job"),
    Endpoint("modeling/llm-annotators/", get=ADMIN, post=ADMIN, note="POST starts an LLM annotation job"),
    Endpoint(
        "modeling/snapshots/<int:snapshot_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"snapshot_id": objects.missing_snapshot_id},
        missing_object_ok=NO_SAMPLE_SNAPSHOT,
    ),
    Endpoint(
        "modeling/snapshots/<int:snapshot_id>/download.zip",
        get=RESEARCHER,
        kwargs=lambda objects: {"snapshot_id": objects.missing_snapshot_id},
        missing_object_ok=NO_SAMPLE_SNAPSHOT,
    ),
    Endpoint(
        "modeling/snapshots/<int:snapshot_id>/download/<path:filename>",
        get=RESEARCHER,
        kwargs=lambda objects: {"snapshot_id": objects.missing_snapshot_id, "filename": "manifest.json"},
        missing_object_ok=NO_SAMPLE_SNAPSHOT,
    ),
    # --- admins: model backends; researchers read query sets, admins write them ------------------------------
    Endpoint("modeling/backends/", get=ADMIN),
    Endpoint("modeling/backends/new/", get=ADMIN, post=ADMIN, note="POST adds a backend"),
    Endpoint(
        "modeling/backends/<int:backend_id>/",
        get=ADMIN,
        post=ADMIN,
        kwargs=lambda objects: {"backend_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "modeling/backends/<int:backend_id>/test/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"backend_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
        note="POST starts a connection test job",
    ),
    Endpoint("modeling/query-sets/", get=RESEARCHER, post=ADMIN, note="POST imports a CSV file"),
    Endpoint("modeling/query-sets/default/", get=None, post=ADMIN, note="POST loads the default set"),
    Endpoint(
        "modeling/query-sets/<int:query_set_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"query_set_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "modeling/query-sets/<int:query_set_id>/delete/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"query_set_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    # --- steering evaluations: researchers read runs and reports; admins design, launch and score them ------
    Endpoint("modeling/evaluations/", get=RESEARCHER),
    Endpoint("modeling/evaluations/new/", get=ADMIN, post=ADMIN, note="POST stores a draft (the empty POST: 422)"),
    Endpoint("modeling/evaluations/plan/", get=None, post=ADMIN, note="the plan of the form as it stands (htmx)"),
    Endpoint("modeling/evaluations/compare/", get=RESEARCHER, note="without two finished runs: says so"),
    Endpoint(
        "modeling/evaluations/<int:evaluation_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "modeling/evaluations/<int:evaluation_id>/launch/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "modeling/evaluations/<int:evaluation_id>/collect/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "modeling/evaluations/<int:evaluation_id>/export/<int:backend_id>/<slug:kind>.csv",
        get=RESEARCHER,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID, "backend_id": MISSING_ID, "kind": "responses"},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    # --- jobs -------------------------------------------------------------------------------------------------
    Endpoint("jobs/", get=RESEARCHER),
    Endpoint(
        "jobs/<int:job_id>/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"job_id": objects.annotators_job.pk},
        note="the sample job was started by the annotator; other annotators get 404",
    ),
    # --- accounts ---------------------------------------------------------------------------------------------
    Endpoint("accounts/login/", get=ANONYMOUS, post=ANONYMOUS),
    Endpoint("accounts/logout/", get=None, post=ANONYMOUS, note="logout is a POST; GET is refused with 405"),
    Endpoint("accounts/users/", get=ADMIN),
    Endpoint(
        "participants/<int:user_id>/withdraw/",
        get=ADMIN,
        post=ADMIN,
        kwargs=lambda objects: {"user_id": objects.other_annotator.pk},
        note="GET shows what a withdrawal deletes; POST deletes it (the empty matrix POST withdraws a sample user)",
    ),
    Endpoint(
        "accounts/users/<int:user_id>/role/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"user_id": objects.users[ANNOTATOR].pk},
        note="POST only (405 on GET for admins)",
    ),
    # --- operations -------------------------------------------------------------------------------------------
    Endpoint("health/", get=ANONYMOUS),
    Endpoint("ready/", get=ANONYMOUS, note="readiness for load balancers: names the failed dependency, no data"),
    Endpoint(
        "metrics",
        get=ANONYMOUS,
        note="Prometheus: a bearer token (VALUEFLOW_METRICS_TOKEN) or, without one, loopback only — not a role; "
        "tests/operations/test_metrics.py checks the token and the refusal from elsewhere",
    ),
    Endpoint("api/schema/", get=ANONYMOUS),
    Endpoint("api/docs/", get=ANONYMOUS),
    # --- REST API ---------------------------------------------------------------------------------------------
    Endpoint("api/v1/me/", get=ANNOTATOR),
    Endpoint("api/v1/users/", get=ADMIN),
    Endpoint("api/v1/jobs/", get=ANNOTATOR, note="annotators see only their own jobs; researchers see all"),
    Endpoint(
        "api/v1/jobs/<int:job_id>/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"job_id": objects.annotators_job.pk},
        note="the sample job was started by the annotator; other annotators get 404",
    ),
    Endpoint("api/v1/theories/", get=ANNOTATOR),
    Endpoint("api/v1/values/", get=ANNOTATOR),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint("api/v1/concepts/", get=ANNOTATOR),
    Endpoint("api/v1/imports/", get=RESEARCHER, post=RESEARCHER),
    Endpoint("api/v1/texts/", get=RESEARCHER),
    Endpoint("api/v1/texts/<int:text_id>/", get=RESEARCHER, kwargs=lambda objects: {"text_id": objects.text.pk}),
    Endpoint("api/v1/campaigns/", get=ANNOTATOR, post=RESEARCHER, note="annotators list running campaigns only"),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
        note="the sample campaign is running; annotators get 404 for drafts, paused and finished ones",
    ),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/status/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
    ),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/next/",
        get=None,
        post=ANNOTATOR,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
    ),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/progress/",
        get=ANNOTATOR,
        kwargs=lambda objects: {"campaign_id": objects.campaign.pk},
    ),
    Endpoint(
        "api/v1/assignments/<int:assignment_id>/submit/",
        get=None,
        post=ANNOTATOR,
        kwargs=lambda objects: {"assignment_id": objects.annotators_assignment.pk},
        note="an empty body is refused (400) before the assignment is looked up",
    ),
    Endpoint(
        "api/v1/judgments/<int:judgment_id>/undo/",
        get=None,
        post=ANNOTATOR,
        kwargs=lambda objects: {"judgment_id": objects.missing_judgment_id},
        missing_object_ok=NOT_THE_CALLERS_OWN,
    ),
    Endpoint("api/v1/campaigns/<int:campaign_id>/quality/", get=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/members/<int:member_id>/state/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {
            "campaign_id": objects.campaign.pk,
            "member_id": objects.campaign.members.get(annotator=objects.users[ANNOTATOR]).pk,
        },
        note="the empty POST names no state: 400",
    ),
    Endpoint("api/v1/campaigns/<int:campaign_id>/adjudications/", get=RESEARCHER, kwargs=_campaign),
    Endpoint(
        "api/v1/adjudications/<int:adjudication_id>/decide/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"adjudication_id": MISSING_ID}, missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint("api/v1/cohorts/", get=RESEARCHER, post=RESEARCHER),
    Endpoint(
        "api/v1/cohorts/<int:cohort_id>/members/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"cohort_id": MISSING_ID}, missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint(
        "api/v1/cohorts/<int:cohort_id>/campaigns/", get=None, post=RESEARCHER,
        kwargs=lambda objects: {"cohort_id": MISSING_ID}, missing_object_ok=NO_SAMPLE_QC_OBJECT,
    ),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/intensities/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/fits/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/refit/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/annotators/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint("api/v1/hives/versions/", get=RESEARCHER),
    Endpoint("api/v1/hives/versions/train/", get=None, post=RESEARCHER),
    Endpoint(
        "api/v1/hives/versions/<int:version_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"version_id": objects.hives_version.pk},
    ),
    Endpoint(
        "api/v1/hives/versions/<int:version_id>/pin/",
        get=None,
        post=RESEARCHER,
        kwargs=lambda objects: {"version_id": objects.hives_version.pk},
    ),
    Endpoint("api/v1/profile", get=None, post=RESEARCHER, note="the same API as api/v1/profile/, without the slash"),
    Endpoint("api/v1/profile/", get=None, post=RESEARCHER),
    Endpoint("api/v1/backends/", get=ADMIN, post=ADMIN, note="responses name the key variable, never the key"),
    Endpoint(
        "api/v1/backends/<int:backend_id>/",
        get=ADMIN,
        patch=ADMIN,
        kwargs=lambda objects: {"backend_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
        note="PATCH changes fields",
    ),
    Endpoint(
        "api/v1/backends/<int:backend_id>/test/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"backend_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint("api/v1/query-sets/", get=RESEARCHER, post=ADMIN, note="POST imports a CSV file (multipart)"),
    Endpoint("api/v1/query-sets/default/", get=None, post=ADMIN),
    Endpoint(
        "api/v1/query-sets/<int:query_set_id>/",
        get=RESEARCHER,
        delete=ADMIN,
        kwargs=lambda objects: {"query_set_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
        note="DELETE removes a set no evaluation uses",
    ),
    Endpoint(
        "api/v1/evaluations/", get=RESEARCHER, post=ADMIN, note="POST creates a draft and returns its plan (empty: 400)"
    ),
    Endpoint(
        "api/v1/evaluations/<int:evaluation_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "api/v1/evaluations/<int:evaluation_id>/launch/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint(
        "api/v1/evaluations/<int:evaluation_id>/collect/",
        get=None,
        post=ADMIN,
        kwargs=lambda objects: {"evaluation_id": MISSING_ID},
        missing_object_ok=NO_SAMPLE_STEERING_OBJECT,
    ),
    Endpoint("api/v1/snapshots/", get=RESEARCHER, post=RESEARCHER),
    Endpoint("api/v1/snapshots/diff/", get=RESEARCHER),
    Endpoint(
        "api/v1/values/<slug:theory_key>/<slug:value_key>/reliability/",
        get=RESEARCHER,
        kwargs=lambda objects: {"theory_key": objects.value.theory.key, "value_key": objects.value.key},
    ),
    Endpoint("api/v1/planner/", get=None, post=RESEARCHER, note="starts a budget-plan job"),
    Endpoint(
        "api/v1/campaigns/<int:campaign_id>/llm-annotators/",
        get=None,
        post=ADMIN,
        kwargs=_campaign,
        note="starts an LLM annotation job",
    ),
    Endpoint(
        "api/v1/snapshots/<int:snapshot_id>/",
        get=RESEARCHER,
        kwargs=lambda objects: {"snapshot_id": objects.missing_snapshot_id},
        missing_object_ok=NO_SAMPLE_SNAPSHOT,
    ),
    Endpoint(
        "api/v1/snapshots/<int:snapshot_id>/files/<path:filename>",
        get=RESEARCHER,
        kwargs=lambda objects: {"snapshot_id": objects.missing_snapshot_id, "filename": "manifest.json"},
        missing_object_ok=NO_SAMPLE_SNAPSHOT,
    ),
]

# The Django admin, declared once.
ADMIN_SITE = Endpoint(ADMIN_SITE_PREFIX, get=STAFF, note="Django admin index; its inner pages need model permissions")
