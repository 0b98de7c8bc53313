import pytest

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.models import CampaignMember
from labeling.services.assignment import NOT_IN_COHORT, assignment_next
from labeling.services.cohorts import (
    cohort_campaign_assign,
    cohort_campaign_unassign,
    cohort_create,
    cohort_member_remove,
    cohort_members_add,
)
from labeling.services.crowd import crowd_arrival_parse, crowd_session_start
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


def test_cohort_names_are_unique_and_unknown_usernames_add_nobody(annotator, other_annotator):
    panel = cohort_create(name="Trained panel")
    with pytest.raises(ApplicationError, match="already exists"):
        cohort_create(name=" Trained panel ")
    with pytest.raises(ApplicationError, match="No user is called ghost, nobody; nothing was added"):
        cohort_members_add(cohort=panel, usernames=["ann", "ghost", "nobody"])
    assert panel.members.count() == 0
    assert cohort_members_add(cohort=panel, usernames=["ann", "ann2", " ann "]) == [annotator, other_annotator]
    assert cohort_members_add(cohort=panel, usernames=["ann"]) == []  # already in


def test_a_campaign_with_cohorts_is_served_only_to_their_members(researcher, annotator, other_annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher)
    panel = cohort_create(name="Panel A")
    cohort_members_add(cohort=panel, usernames=[annotator.username])
    cohort_campaign_assign(cohort=panel, campaign=campaign)

    assert assignment_next(campaign=campaign, annotator=annotator).assignment is not None
    refused = assignment_next(campaign=campaign, annotator=other_annotator)
    assert refused.assignment is None and refused.reason == NOT_IN_COHORT
    assert not CampaignMember.objects.filter(annotator=other_annotator).exists()  # an outsider never joins
    assert assignment_next(campaign=campaign, annotator=researcher).assignment is not None  # researchers may check

    # leaving the cohort closes the campaign to a member who already worked in it
    cohort_member_remove(cohort=panel, user=annotator)
    assert assignment_next(campaign=campaign, annotator=annotator).reason == NOT_IN_COHORT
    # a second cohort opens it to its members too; without cohorts it is open to all
    second = cohort_create(name="Panel B")
    cohort_members_add(cohort=second, usernames=[other_annotator.username])
    cohort_campaign_assign(cohort=second, campaign=campaign)
    assert assignment_next(campaign=campaign, annotator=other_annotator).assignment is not None
    cohort_campaign_unassign(cohort=panel, campaign=campaign)
    cohort_campaign_unassign(cohort=second, campaign=campaign)
    assert assignment_next(campaign=campaign, annotator=annotator).assignment is not None


def test_crowd_links_cannot_enter_a_cohort_campaign(researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    cohort_campaign_assign(cohort=cohort_create(name="Invited"), campaign=campaign)
    params = {"PROLIFIC_PID": "p1", "STUDY_ID": "s", "SESSION_ID": "x"}
    with pytest.raises(ApplicationError, match="invited annotators only"):
        crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=params))
    assert not User.objects.filter(username="prolific-p1").exists()


def test_annotators_see_and_open_only_campaigns_their_cohorts_allow(researcher, annotator, other_annotator):
    from labeling.selectors import annotator_campaign_list, campaign_get_visible_to, campaign_list_visible_to

    open_campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, name="Open")
    closed = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, name="Panel only")
    panel = cohort_create(name="Panel")
    cohort_members_add(cohort=panel, usernames=[annotator.username])
    cohort_campaign_assign(cohort=panel, campaign=closed)

    assert {c.name for c in annotator_campaign_list(annotator=annotator)} == {"Open", "Panel only"}
    assert {c.name for c in annotator_campaign_list(annotator=other_annotator)} == {"Open"}
    assert {c.name for c in campaign_list_visible_to(user=other_annotator)} == {"Open"}
    assert campaign_get_visible_to(campaign_id=closed.pk, user=other_annotator) is None
    assert campaign_get_visible_to(campaign_id=closed.pk, user=annotator) == closed
    assert campaign_get_visible_to(campaign_id=open_campaign.pk, user=other_annotator) == open_campaign
    assert campaign_get_visible_to(campaign_id=closed.pk, user=researcher) == closed
