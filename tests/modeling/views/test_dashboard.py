"""The intensity dashboard and a value's intensity page: researchers see numbers with intervals, plots, agreement
and can start a refit; annotators are refused; the pages cost a bounded number of queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from labeling.models import PoolItem
from modeling.models import Fit
from modeling.services.fits import FIT_JOB_KIND, fit_value
from tests.factories.judgments import judgments_bulk_create, simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def fitted_value(researcher):
    """A value of 12 texts with 150 simulated judgments by three annotators (one of them answering backwards),
    refit twice so the history has two fits (the split at 99 keeps each annotator's turn across both batches)."""
    value = value_with_pool(n_items=12, value_key="caring")
    campaign = running_campaign(values=[value], created_by=researcher)
    crowd = [user_create(username=f"judge{i}", password="x-pass-123", role=User.Role.ANNOTATOR) for i in range(3)]
    truth, orderings = simulated_pairs(value=value, n=150, seed=11, spread=3.0)
    # judge2 answers every third judgment, always backwards: their agreement with the fit must be low.
    orderings = [list(reversed(o)) if i % 3 == 2 else o for i, o in enumerate(orderings)]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings[:99])
    fit_value(value_id=value.pk)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings[99:])
    fit_value(value_id=value.pk)
    return value


def _page_url(value) -> str:
    return reverse("modeling:value_intensities", args=[value.theory.key, value.key])


def test_the_dashboard_lists_each_value_with_its_fit(researcher_client, fitted_value):
    value_with_pool(n_items=3, value_key="tradition")  # a value nobody has fitted yet

    response = researcher_client.get(reverse("modeling:dashboard"))

    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(r'<tr data-value="svt:caring">(.*?)</tr>', html, re.S).group(1)
    assert "Caring" in row and ">12<" in row and ">150<" in row
    fit = Fit.objects.filter(value=fitted_value).order_by("-id").first()
    assert f"fit #{fit.pk}" in row
    assert f"{fit.config['summary']['median_ci_width']:.2f}" in row
    assert "running" in row
    other = re.search(r'<tr data-value="svt:tradition">(.*?)</tr>', html, re.S).group(1)
    assert "not fitted yet" in other
    assert 'hx-trigger="every 5s"' in html  # a campaign is running: the table refreshes itself


def test_the_dashboard_costs_a_fixed_number_of_queries(researcher_client, fitted_value, researcher):
    researcher_client.get(reverse("modeling:dashboard"))  # warm the session
    with CaptureQueriesContext(connection) as few_values:
        researcher_client.get(reverse("modeling:dashboard"))
    for key in ("a", "b", "c"):
        value = value_with_pool(n_items=4, value_key=f"extra-{key}")
        fit_value(value_id=value.pk)
    with CaptureQueriesContext(connection) as more_values:
        researcher_client.get(reverse("modeling:dashboard"))
    assert len(more_values) == len(few_values) <= 10


def test_annotators_may_not_see_the_dashboard(annotator_client, fitted_value):
    assert annotator_client.get(reverse("modeling:dashboard")).status_code == 403
    assert annotator_client.get(_page_url(fitted_value)).status_code == 403


def test_the_value_page_ranks_texts_with_intervals_plots_and_agreement(researcher_client, fitted_value):
    response = researcher_client.get(_page_url(fitted_value))

    assert response.status_code == 200
    html = response.content.decode()
    fit = Fit.objects.filter(value=fitted_value).order_by("-id").first()
    top = PoolItem.objects.filter(value=fitted_value).order_by("-intensity").first()
    # The strongest text comes first, with its interval in numbers and as a bar.
    first_row = re.search(r'<tbody>\s*<tr>(.*?)</tr>', html.split('<div id="ranked-items"')[1], re.S).group(1)
    assert top.text.content[:20] in first_row
    assert f"{top.intensity:.1f}" in first_row and f"[{top.ci_low:.1f}, {top.ci_high:.1f}]" in first_row
    assert 'class="interval-bar"' in first_row
    # Facts of the published fit.
    facts = re.search(r'data-testid="published-fit">(.*?)</section>', html, re.S).group(1)
    assert f"#{fit.pk}" in facts and "150" in facts and f"judgment #{fit.watermark}" in facts
    assert fit.backend in facts and "Log-likelihood" in facts
    # Distribution and convergence plots are inline SVG.
    assert html.count('<svg class="plot"') == 3
    assert "Histogram of 12 published intensities" in html
    assert "Median 95 % interval width (intensity points): from" in html
    # The backwards annotator agrees least with the consensus.
    table = re.search(r'data-testid="annotator-table">(.*?)</table>', html, re.S).group(1)
    agreement = {
        name: int(percent)
        for name, percent in re.findall(r'<th scope="row">(judge\d)</th>.*?(\d+) %</td>', table, re.S)
    }
    assert agreement["judge2"] < 50 < 65 < min(agreement["judge0"], agreement["judge1"])


def test_search_and_pages_render_only_the_table_for_htmx(researcher_client, fitted_value):
    target = PoolItem.objects.filter(value=fitted_value).order_by("id")[3]

    response = researcher_client.get(
        _page_url(fitted_value), {"q": target.text.content}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="ranked-items"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="ranked-items"') and "<html" not in html
    assert "1 text matching" in html and target.text.content in html


def test_a_text_without_judgments_is_marked(researcher_client, fitted_value):
    from labeling.models import Text

    lonely = PoolItem.objects.create(
        value=fitted_value, text=Text.objects.create(content="Nobody ranked me yet.", content_hash="e" * 64)
    )
    fit_value(value_id=fitted_value.pk)

    response = researcher_client.get(_page_url(fitted_value), {"q": "Nobody ranked"})

    assert PoolItem.objects.get(pk=lonely.pk).intensity is not None
    assert 'data-testid="no-judgments"' in response.content.decode()


def test_the_live_part_refreshes_while_a_campaign_runs(researcher_client, fitted_value):
    response = researcher_client.get(_page_url(fitted_value), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="value-live")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="value-live"')
    assert 'hx-trigger="every 5s"' in html


def test_the_value_page_costs_a_bounded_number_of_queries(researcher_client, fitted_value):
    researcher_client.get(_page_url(fitted_value))
    with CaptureQueriesContext(connection) as queries:
        researcher_client.get(_page_url(fitted_value))
    assert len(queries) <= 16


def test_refit_now_starts_a_refit_job_and_shows_its_progress(researcher_client, fitted_value):
    url = reverse("modeling:value_refit", args=[fitted_value.theory.key, fitted_value.key])

    response = researcher_client.post(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="refit-status")

    job = Job.objects.get(kind=FIT_JOB_KIND, params__value_id=fitted_value.pk)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="job-{job.pk}"' in html and "progress" in html
    # Without htmx the button posts and comes back to the page.
    response = researcher_client.post(url)
    assert response.status_code == 302 and response["Location"] == _page_url(fitted_value)
    assert Job.objects.filter(kind=FIT_JOB_KIND).count() == 1  # the same job: one refit per value at a time


def test_an_unknown_value_is_404(researcher_client):
    response = researcher_client.get(reverse("modeling:value_intensities", args=["svt", "no-such-value"]))
    assert response.status_code == 404


def test_a_value_without_a_fit_says_so(researcher_client):
    value = value_with_pool(n_items=3, value_key="humility")

    html = researcher_client.get(_page_url(value)).content.decode()

    assert "No fit published yet" in html
    assert "No published intensities yet" in html
    assert "too few fits to draw yet" in html
    assert "3 texts." in html and 'hx-trigger="every 5s"' not in html  # no campaign running: no polling
