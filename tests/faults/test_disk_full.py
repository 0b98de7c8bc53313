"""The disk fills while a snapshot is exported: the creation fails with the operating system's "no space left"
error, no snapshot row is committed, no half-written folder is left, and the judgments are untouched.

End to end on a real full file system: the test mounts a tmpfs of a few kilobytes as MEDIA_ROOT (root may mount
one; without that permission the test is skipped and tests/modeling/services/test_snapshots.py's injected ENOSPC
writer still covers the behaviour) and unmounts it afterwards, whatever happens.
"""

import errno
import os
import subprocess

import pytest

from labeling.models import Judgment
from modeling.models import Snapshot, SnapshotValue
from modeling.services import snapshots
from modeling.services.fits import fit_value
from modeling.services.snapshots import snapshot_create
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.slow

TMPFS_SIZE = "48k"  # room for the lock file and a few small files, not for a snapshot of 300 texts


@pytest.fixture
def tiny_disk(tmp_path, settings):
    mount_point = tmp_path / "media"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    settings.MEDIA_ROOT = mount_point
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def test_a_snapshot_on_a_full_disk_fails_cleanly_and_publishes_nothing(tiny_disk, researcher, annotator):
    value = value_with_pool(n_items=300, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth = {item_id: float(item_id) for item_id in value.pool_items.values_list("id", flat=True)}
    judgments = [j.pk for j in judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=20)]
    fit_value(value_id=value.pk)

    with pytest.raises(OSError, match="No space left on device") as failure:
        snapshot_create(value_ids=[value.pk], name="Too big for the disk", created_by=researcher)
    assert failure.value.errno == errno.ENOSPC

    assert Snapshot.objects.count() == 0 and SnapshotValue.objects.count() == 0
    assert [path.name for path in snapshots.snapshots_root().iterdir()] == [".create.lock"]
    assert sorted(Judgment.objects.values_list("id", flat=True)) == sorted(judgments)
