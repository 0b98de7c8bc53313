"""The admin's withdrawal page: what will be deleted, then the deletion, reported on the Users page."""

from accounts.models import User
from labeling.models import Judgment
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool


def test_admin_sees_what_a_withdrawal_deletes_and_confirms_it(admin_role_client, annotator, researcher):
    value = value_with_pool(n_items=6, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth = {item_id: float(item_id) for item_id in value.pool_items.values_list("id", flat=True)}
    judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=2)

    page = admin_role_client.get(f"/participants/{annotator.pk}/withdraw/")
    assert page.status_code == 200
    assert '<dd data-testid="withdraw-judgments">2</dd>' in page.content.decode()
    assert "csrfmiddlewaretoken" in page.content.decode()

    response = admin_role_client.post(f"/participants/{annotator.pk}/withdraw/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/users/"
    text = response.content.decode()
    assert "ann has withdrawn: 2 judgments deleted" in text
    assert f"withdrawn-{annotator.pk}" in text
    assert not Judgment.objects.filter(annotator=annotator).exists()


def test_the_users_page_links_each_participant_to_the_withdrawal(admin_role_client, annotator):
    text = admin_role_client.get("/accounts/users/").content.decode()
    assert f'href="/participants/{annotator.pk}/withdraw/"' in text


def test_a_refused_withdrawal_says_why(admin_role_client, platform_admin):
    other_admin = User.objects.create_user(username="adm2", password="x-pass-123456", role=User.Role.ADMIN)
    response = admin_role_client.post(f"/participants/{other_admin.pk}/withdraw/", follow=True)
    assert "Could not withdraw adm2: adm2 is an admin." in response.content.decode()
