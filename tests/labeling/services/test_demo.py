import pytest

from accounts.models import User
from labeling.models import Campaign, PoolItem, Value
from labeling.services.demo import demo_setup

pytestmark = pytest.mark.django_db


def test_demo_setup_loads_every_target_value_with_twenty_texts_and_is_idempotent():
    first = demo_setup(password="demo-pass-123")
    assert first.taxonomy["theories"] == 4
    for value in Value.objects.filter(is_target=True):
        pool = PoolItem.objects.filter(value=value)
        assert pool.count() >= 20, value.qualified_key
        assert set(pool.values_list("direction", flat=True)) == {-1, 0, 1}, value.qualified_key
    assert Campaign.objects.filter(status=Campaign.Status.RUNNING).count() == 2
    assert {u.role for u in User.objects.all()} == {"annotator", "researcher", "admin"}
    second = demo_setup(password="demo-pass-123")
    assert second.texts_created == 0
    assert second.campaigns_created == 0
    assert not any(created for _, _, created in second.users)
