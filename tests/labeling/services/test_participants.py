"""A participant who withdraws: their judgments are deleted, their open leases released, exposure counters and
stopping targets corrected, their account anonymised, the withdrawal audit-logged, and refits requested — and
the next fit of the value no longer contains them."""

import io
import json
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from labeling.models import Assignment, CampaignItem, CampaignMember, Judgment
from labeling.services.assignment import assignment_next
from labeling.services.participants import participant_withdraw
from modeling.models import AnnotatorEstimate
from modeling.services.fits import fit_value
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool


@pytest.fixture
def campaign_with_two_annotators(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=10, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False, judgments_per_item=3)
    item_ids = value.pool_items.order_by("id").values_list("id", flat=True)
    truth = {item_id: float(i) for i, item_id in enumerate(item_ids)}
    judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=6, seed=1)
    judge_through_services(campaign=campaign, annotator=other_annotator, truth=truth, n=5, seed=2)
    return value, campaign


def exposures(campaign) -> int:  # type: ignore[no-untyped-def]
    return sum(CampaignItem.objects.filter(campaign=campaign).values_list("judgments_count", flat=True))


def test_withdrawal_deletes_answers_releases_leases_fixes_counters_and_anonymises(
    campaign_with_two_annotators, annotator, other_annotator, platform_admin, django_capture_on_commit_callbacks
):
    value, campaign = campaign_with_two_annotators
    open_lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    assert open_lease is not None
    in_flight_before = sum(CampaignItem.objects.filter(campaign=campaign).values_list("in_flight", flat=True))
    assert exposures(campaign) == 2 * 11  # two items per pair, eleven judgments

    with mock.patch("labeling.services.participants.current_app.send_task") as send_task:
        with django_capture_on_commit_callbacks(execute=True):
            withdrawal = participant_withdraw(user=annotator, withdrawn_by=platform_admin)

    assert withdrawal.judgments_deleted == 6
    assert withdrawal.leases_released == 1
    assert withdrawal.values_refit == [value.pk]
    assert not Judgment.objects.filter(annotator=annotator).exists()
    assert not Assignment.objects.filter(annotator=annotator).exists()
    assert not CampaignMember.objects.filter(annotator=annotator).exists()
    assert Judgment.objects.filter(annotator=other_annotator).count() == 5  # nobody else's answers touched
    assert exposures(campaign) == 2 * 5
    in_flight_after = sum(CampaignItem.objects.filter(campaign=campaign).values_list("in_flight", flat=True))
    assert in_flight_after == in_flight_before - 2
    send_task.assert_called_once_with("modeling.tasks.refit_request", kwargs={"value_id": value.pk})

    account = User.objects.get(pk=annotator.pk)
    assert account.username == f"withdrawn-{annotator.pk}"
    assert (account.email, account.first_name, account.last_name) == ("", "", "")
    assert not account.is_active and not account.has_usable_password()


def test_items_retired_by_the_stopping_rule_are_asked_again_when_their_judgments_go(
    campaign_with_two_annotators, annotator
):
    _, campaign = campaign_with_two_annotators
    retired_before = set(CampaignItem.objects.filter(campaign=campaign, is_active=False).values_list("pk", flat=True))
    participant_withdraw(user=annotator)
    for item in CampaignItem.objects.filter(pk__in=retired_before):
        assert item.is_active == (item.judgments_count < campaign.judgments_per_item)


def test_the_fit_after_a_withdrawal_leaves_the_participant_out(
    campaign_with_two_annotators, annotator, other_annotator
):
    value, _ = campaign_with_two_annotators
    before = fit_value(value_id=value.pk)
    assert before.n_judgments == 11
    assert AnnotatorEstimate.objects.filter(fit=before, annotator=annotator).exists()

    participant_withdraw(user=annotator)
    after = fit_value(value_id=value.pk)
    assert after.n_judgments == 5
    fitted = AnnotatorEstimate.objects.filter(fit=after).values_list("annotator_id", flat=True)
    assert set(fitted) == {other_annotator.pk}
    assert value.published_fit.fit_id == after.pk


def test_the_withdrawal_is_audit_logged(campaign_with_two_annotators, annotator, platform_admin, caplog):
    with caplog.at_level("INFO", logger="valueflow.audit"):
        participant_withdraw(user=annotator, withdrawn_by=platform_admin)
    assert f"participant withdrawn: user id {annotator.pk} (was 'ann') by user {platform_admin.pk} (adm)" in caplog.text
    assert "6 judgments deleted" in caplog.text


def test_admins_and_already_withdrawn_accounts_are_refused(annotator, platform_admin):
    from common.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="is an admin. Change their role first"):
        participant_withdraw(user=platform_admin)
    participant_withdraw(user=annotator)
    with pytest.raises(ApplicationError, match="has already withdrawn"):
        participant_withdraw(user=User.objects.get(pk=annotator.pk))


def test_the_command_withdraws_by_username_and_prints_what_it_did(campaign_with_two_annotators, annotator):
    out = io.StringIO()
    call_command("withdraw_participant", "ann", stdout=out)
    result = json.loads(out.getvalue())
    assert result["former_username"] == "ann"
    assert result["judgments_deleted"] == 6
    with pytest.raises(CommandError, match="No user named 'nobody'; nothing was changed."):
        call_command("withdraw_participant", "nobody")
