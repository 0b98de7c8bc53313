"""The annotation hot path (`next` and `submit`) as hand-written SQL: each statement here replaces one or several
ORM queries whose building and compiling cost more CPU than PostgreSQL spends answering them (docs/benchmarks.md,
"Annotation throughput"). assignment.py and judgments.py call these where `enabled()`; elsewhere (SQLite, the
embedded default) they keep the ORM path. The annotation API reads a comparison's card with `comparison_items_read`
on either database. Statements that lock rows are PostgreSQL's own (FOR UPDATE, SKIP LOCKED,
data-modifying CTEs); plain reads are written so that both databases run them.
"""

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

from common.statements import columns as _columns
from common.statements import cursor as _cursor
from common.statements import instance as _instance
from labeling.models import Assignment, Campaign, CampaignMember, Judgment


def enabled() -> bool:
    """Whether the hand-written PostgreSQL statements serve the hot path (tests switch them off to cover the ORM)."""
    return connection.vendor == "postgresql"


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _pipelined(*statements: tuple[str, Any]) -> list[Any]:
    """Run the statements in one round trip (psycopg's pipeline mode; the BEGIN of a transaction they open travels
    with them), each with its own snapshot, in order; the first row of each."""
    connection.ensure_connection()
    cursors = []
    with connection.wrap_database_errors, connection.connection.pipeline():
        for sql, params in statements:
            cursor = _cursor()
            cursor.execute(sql, params)
            cursors.append(cursor)
    rows = []
    for cursor in cursors:
        with cursor:
            rows.append(cursor.fetchone())
    return rows


# --- next ---------------------------------------------------------------------------------------------------------

_CAMPAIGN = f"SELECT {_columns(Campaign, 'c')} FROM labeling_campaign c WHERE c.id = %s"


def campaign_read(*, campaign_id: int) -> Campaign | None:
    with _cursor() as cursor:
        cursor.execute(_CAMPAIGN, [campaign_id])
        row = cursor.fetchone()
    return None if row is None else _instance(Campaign, row)


_MEMBER_LOCK = f"""
SELECT {_columns(CampaignMember, "m")},
       EXISTS (SELECT 1 FROM labeling_cohort_campaigns cc WHERE cc.campaign_id = %(campaign)s),
       EXISTS (SELECT 1 FROM labeling_cohort_campaigns cc
                 JOIN labeling_cohort_members cm ON cm.cohort_id = cc.cohort_id
                WHERE cc.campaign_id = %(campaign)s AND cm.user_id = %(annotator)s)
  FROM labeling_campaignmember m
 WHERE m.campaign_id = %(campaign)s AND m.annotator_id = %(annotator)s
   FOR UPDATE OF m
"""


# A `next` transaction writes leases and exposure counters only, never an answer, so its COMMIT need not wait for
# the WAL to reach the disk (about 3 ms on this kind of machine, a third of a judgment's round trip). PostgreSQL
# flushes the WAL in order: the synchronous COMMIT of the judgment that answers a lease also makes the lease durable.
# A database crash can lose only leases issued in the last fraction of a second and not yet answered — their
# annotators' next submit answers 404 and they are handed a new comparison — and never a stored judgment.
_LEASES_COMMIT_WITHOUT_WAITING = "SELECT set_config('synchronous_commit', 'off', true)"


def member_lock(*, campaign_id: int, annotator_id: int) -> CampaignMember | None:
    """The annotator's membership row, locked, with `cohort_restricted` and `in_cohort` set as the ORM path sets
    them, and `open_lease`: their oldest open lease in the campaign (expired or not: the caller decides), or None.
    None when the annotator has no membership yet (the caller creates it through the ORM).

    It opens the `next` transaction, whose commit then does not wait for the disk (_LEASES_COMMIT_WITHOUT_WAITING)
    unless the transaction is nested in a caller's.
    The statements go to PostgreSQL in one round trip (psycopg's pipeline mode), but as separate statements: the
    lease is read with a snapshot taken after the lock is held, so it sees a lease that a concurrent request of the
    same annotator committed while this one waited for the lock."""
    statements: list[tuple[str, Any]] = [  # (SQL, its parameters)
        (_MEMBER_LOCK, {"campaign": campaign_id, "annotator": annotator_id}),
        (_OPEN_LEASE, [annotator_id, campaign_id]),
    ]
    # only where the `next` transaction is the outermost one: a caller's enclosing transaction may hold answers
    if len(connection.atomic_blocks) == 1:
        statements.insert(0, (_LEASES_COMMIT_WITHOUT_WAITING, None))
    *_, row, lease_row = _pipelined(*statements)
    if row is None:
        return None
    width = len(CampaignMember._meta.concrete_fields)
    member = _instance(CampaignMember, row[:width])
    member.cohort_restricted, member.in_cohort = row[width], row[width + 1]  # type: ignore[attr-defined]
    member.open_lease = None if lease_row is None else _instance(Assignment, lease_row)  # type: ignore[attr-defined]
    return member


_OPEN_LEASE = f"""
SELECT {_columns(Assignment, "a")} FROM labeling_assignment a
 WHERE a.annotator_id = %s AND a.campaign_id = %s AND a.status = 'open'
 ORDER BY a.id LIMIT 1
"""


def open_lease(*, campaign_id: int, annotator_id: int) -> Assignment | None:
    """The annotator's oldest open lease in the campaign (expired or not: the caller decides)."""
    with _cursor() as cursor:
        cursor.execute(_OPEN_LEASE, [annotator_id, campaign_id])
        row = cursor.fetchone()
    return None if row is None else _instance(Assignment, row)


def seen_keys(*, campaign_id: int, annotator_id: int, value_id: int, keys: Sequence[str]) -> set[str]:
    """Which of `keys` the annotator holds or answered (open or submitted leases that are not deliberate repeats).
    Asks about these keys only, through the unique index on (campaign, annotator, comparison_key)."""
    if not keys:
        return set()
    sql = (
        "SELECT comparison_key FROM labeling_assignment WHERE campaign_id = %s AND annotator_id = %s"
        " AND value_id = %s AND NOT is_repeat AND status IN ('open', 'submitted')"
        f" AND comparison_key IN ({_placeholders(keys)})"
    )
    with _cursor() as cursor:
        cursor.execute(sql, [campaign_id, annotator_id, value_id, *keys])
        return {key for (key,) in cursor.fetchall()}


def value_has_posterior(*, value_id: int) -> bool:
    """Whether any pool item of the value carries a published utility: one probe of the partial index
    pool_item_scored, whether or not a fit was published (sampling.value_has_posterior keeps a yes)."""
    with _cursor() as cursor:
        sql = "SELECT 1 FROM labeling_poolitem WHERE value_id = %s AND utility IS NOT NULL LIMIT 1"
        cursor.execute(sql, [value_id])
        return cursor.fetchone() is not None


_ELIGIBLE = (
    "campaign_id = %(campaign)s AND value_id = %(value)s AND is_active AND judgments_count + in_flight < %(per_item)s"
)
_LEAST_EXPOSED_WINDOW = f"""
SELECT pool_item_id FROM labeling_campaignitem
 -- ARRAY(…) runs once, and the rows are then read by primary key (the campaign and value are the subquery's): on a
 -- fresh table's estimates a join or IN here can rerun the LIMIT query per row or scan the value's whole pool
 WHERE id = ANY(ARRAY(SELECT id FROM labeling_campaignitem WHERE {_ELIGIBLE}
                       ORDER BY judgments_count LIMIT %(nearest)s))
   AND is_active AND judgments_count + in_flight < %(per_item)s
 ORDER BY judgments_count, in_flight, id
 LIMIT %(size)s
   FOR UPDATE SKIP LOCKED
"""


def least_exposed_window(*, campaign: Campaign, value_id: int, size: int, nearest: int) -> list[int]:
    """Pool item ids of up to `size` eligible items with the fewest judgments, then open leases, row-locked (SKIP
    LOCKED), chosen among the `nearest` least-judged: one statement for the ORM path's two (assignment.py)."""
    params = {
        "campaign": campaign.pk,
        "value": value_id,
        "per_item": campaign.judgments_per_item,
        "nearest": nearest,
        "size": size,
    }
    with _cursor() as cursor:
        cursor.execute(_LEAST_EXPOSED_WINDOW, params)
        return [pool_item_id for (pool_item_id,) in cursor.fetchall()]


_CANDIDATE_ROWS = (
    "SELECT pool_item_id, judgments_count + in_flight AS exposure FROM labeling_campaignitem WHERE " + _ELIGIBLE
)
_CANDIDATES = f"""
SELECT array_agg(pool_item_id), array_agg(utility), array_agg(utility_se), array_agg(exposure)
  FROM (SELECT c.pool_item_id, p.utility, p.utility_se, c.exposure
          FROM (-- the stretch: from id `start` on, then wrapped around to the start of the id range (read only as
                -- far as needed: the LIMIT stops the UNION ALL as soon as the first part has given enough rows)
                SELECT pool_item_id, exposure, 0 AS part, row_number() OVER () AS position
                  FROM (({_CANDIDATE_ROWS} AND id >= %(start)s ORDER BY id LIMIT %(stretch)s)
                        UNION ALL
                        ({_CANDIDATE_ROWS} AND id < %(start)s ORDER BY id LIMIT %(stretch)s)
                        LIMIT %(stretch)s) stretch
                UNION ALL
                -- ordered by judgments_count alone, the (campaign, value, is_active, judgments_count) index returns
                -- the first rows without sorting the whole pool
                SELECT pool_item_id, exposure, 1, row_number() OVER ()
                  FROM ({_CANDIDATE_ROWS} ORDER BY judgments_count LIMIT %(least_exposed)s) least_exposed) c
         -- each candidate's published utility by primary key (OFFSET 0 keeps this a nested loop: the generic plan
         -- of the prepared statement otherwise hashes the whole pool, 37 ms at 100K texts)
         CROSS JOIN LATERAL (SELECT utility, utility_se FROM labeling_poolitem WHERE id = c.pool_item_id OFFSET 0) p
         -- sorted once; the aggregates below take the rows in this order
         ORDER BY c.part, c.position) candidates
"""


def candidates_read(
    *, campaign: Campaign, value_id: int, start: int, stretch: int, least_exposed: int
) -> tuple[list[int], list[float | None], list[float | None], list[int]]:
    """The adaptive sampler's candidates, unlocked, as four parallel arrays (pool item ids, published utilities and
    standard errors, exposure = judgments + open leases): up to `stretch` eligible items from id `start` on, wrapping
    around the end of the id range, then the `least_exposed` eligible items with the fewest judgments (the two parts
    may share items). One statement instead of the ORM's union and wrapped read (sampling.candidates_read)."""
    params = {
        "campaign": campaign.pk,
        "value": value_id,
        "per_item": campaign.judgments_per_item,
        "start": start,
        "stretch": stretch,
        "least_exposed": least_exposed,
    }
    with _cursor(binary=True) as cursor:
        cursor.execute(_CANDIDATES, params)
        ids, utilities, se, exposure = cursor.fetchone()
    if ids is None:  # no eligible item: array_agg of no rows
        return [], [], [], []
    return ids, utilities, se, exposure


def items_lock(*, campaign: Campaign, value_id: int, pool_item_ids: Sequence[int]) -> list[int]:
    """Those of the given pool items that are eligible, row-locked in id order (SKIP LOCKED: the ones a concurrent
    request holds are left out, and the caller tries its next-best comparison)."""
    sql = (
        f"SELECT pool_item_id FROM labeling_campaignitem WHERE {_ELIGIBLE} AND pool_item_id = ANY(%(items)s)"
        " ORDER BY id FOR UPDATE SKIP LOCKED"
    )
    params = {
        "campaign": campaign.pk,
        "value": value_id,
        "per_item": campaign.judgments_per_item,
        "items": list(pool_item_ids),
    }
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return [pool_item_id for (pool_item_id,) in cursor.fetchall()]


_WINDOW_FROM = (
    f"SELECT pool_item_id FROM labeling_campaignitem WHERE {_ELIGIBLE} AND id >= %(start)s"
    " ORDER BY id LIMIT %(size)s FOR UPDATE SKIP LOCKED"
)
_WINDOW_BEFORE = (
    f"SELECT pool_item_id FROM labeling_campaignitem WHERE {_ELIGIBLE} AND id < %(start)s"
    " ORDER BY id LIMIT %(size)s FOR UPDATE SKIP LOCKED"
)


def random_window(*, campaign: Campaign, value_id: int, start: int, size: int) -> list[int]:
    """Pool item ids of up to `size` eligible items from id `start` on, wrapping around to the start of the id
    range, row-locked (SKIP LOCKED), in id order within each part: the ORM path's two statements, without building
    them per request."""
    params = {"campaign": campaign.pk, "value": value_id, "per_item": campaign.judgments_per_item, "start": start}
    with _cursor() as cursor:
        cursor.execute(_WINDOW_FROM, {**params, "size": size})
        window = [pool_item_id for (pool_item_id,) in cursor.fetchall()]
        if len(window) < size:
            cursor.execute(_WINDOW_BEFORE, {**params, "size": size - len(window)})
            window += [pool_item_id for (pool_item_id,) in cursor.fetchall()]
    return window


def random_partner(*, campaign: Campaign, value_id: int, start: int, exclude: Sequence[int]) -> int | None:
    """The first eligible item from id `start` on, not in `exclude`, row-locked (SKIP LOCKED)."""
    sql = (
        f"SELECT pool_item_id FROM labeling_campaignitem WHERE {_ELIGIBLE} AND id >= %(start)s"
        " AND NOT (pool_item_id = ANY(%(exclude)s)) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    params = {
        "campaign": campaign.pk,
        "value": value_id,
        "per_item": campaign.judgments_per_item,
        "start": start,
        "exclude": list(exclude),
    }
    with _cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


_CARD_COLUMNS = "p.id, t.content, th.key, v.key, v.name, v.definition"
_CARD_TABLES = (
    "labeling_poolitem p JOIN labeling_text t ON t.id = p.text_id JOIN labeling_value v ON v.id = p.value_id"
    " JOIN labeling_theory th ON th.id = v.theory_id"
)


def _card(rows: Sequence[Sequence[Any]]) -> dict[int, tuple[str, dict[str, str]]]:
    return {
        row[0]: (row[1], {"theory": row[2], "key": row[3], "name": row[4], "definition": row[5]}) for row in rows
    }


_LEASE_INSERT = f"""
WITH lease AS (
    INSERT INTO labeling_assignment (campaign_id, value_id, annotator_id, item_ids, comparison_key, is_repeat,
                                     repeat_of_id, reason, instructions_version, gold_id, attention_check_id, status,
                                     issued_at, expires_at)
    VALUES (%(campaign)s, %(value)s, %(annotator)s, %(item_ids)s::jsonb, %(key)s, %(is_repeat)s, %(repeat_of)s,
            %(reason)s,
            COALESCE((SELECT max(version) FROM labeling_campaigninstructions WHERE campaign_id = %(campaign)s), 1),
            %(gold)s, %(attention_check)s, 'open', %(now)s, %(expires_at)s)
    RETURNING id, instructions_version
), exposure AS (
    UPDATE labeling_campaignitem SET in_flight = in_flight + 1
     WHERE %(counts)s AND campaign_id = %(campaign)s AND pool_item_id = ANY(%(items)s)
)
-- with what the card shows of each item, as comparison_items_read reads it
SELECT lease.id, lease.instructions_version, {_CARD_COLUMNS}
  FROM lease CROSS JOIN {_CARD_TABLES} WHERE p.id = ANY(%(items)s)
"""


def lease_insert(*, lease: Assignment, counts_exposure: bool) -> None:
    """Store `lease` (unsaved; its id and the campaign's latest instructions version are filled in) and add one to
    its items' in_flight when `counts_exposure`; `lease.card` gets what comparison_items_read would read for it.
    One statement. Call holding the membership and items' locks."""
    params = {
        "campaign": lease.campaign_id,
        "value": lease.value_id,
        "annotator": lease.annotator_id,
        "item_ids": json.dumps(lease.item_ids),
        "key": lease.comparison_key,
        "is_repeat": lease.is_repeat,
        "repeat_of": lease.repeat_of_id,
        "reason": lease.reason,
        "gold": lease.gold_id,
        "attention_check": lease.attention_check_id,
        "now": lease.issued_at,
        "expires_at": lease.expires_at,
        "counts": counts_exposure,
        "items": list(lease.item_ids),
    }
    with _cursor() as cursor:
        cursor.execute(_LEASE_INSERT, params)
        rows = cursor.fetchall()
    lease.pk, lease.instructions_version = rows[0][:2]
    lease._state.adding = False
    lease.card = _card([row[2:] for row in rows])  # type: ignore[attr-defined]


def comparison_items_read(*, item_ids: Sequence[int]) -> dict[int, tuple[str, dict[str, str]]]:
    """pool item id → (text, its value as {theory, key, name, definition}): what a comparison card shows."""
    sql = f"SELECT {_CARD_COLUMNS} FROM {_CARD_TABLES} WHERE p.id IN ({_placeholders(item_ids)})"
    with _cursor() as cursor:
        cursor.execute(sql, list(item_ids))
        return _card(cursor.fetchall())


# --- submit -------------------------------------------------------------------------------------------------------

_LEASE_LOCK = f"""
SELECT {_columns(Assignment, "a")}, {_columns(Campaign, "c")}
  FROM labeling_assignment a JOIN labeling_campaign c ON c.id = a.campaign_id
 WHERE a.id = %s
   FOR UPDATE OF a
"""


def lease_lock(*, assignment_id: int) -> Assignment | None:
    """The lease, row-locked, with its campaign loaded; None for an unknown id."""
    (row,) = _pipelined((_LEASE_LOCK, [assignment_id]))  # with the transaction's BEGIN
    if row is None:
        return None
    width = len(Assignment._meta.concrete_fields)
    lease = _instance(Assignment, row[:width])
    lease.campaign = _instance(Campaign, row[width:])
    return lease


_JUDGMENT_INSERT = """
WITH judgment AS (
    INSERT INTO labeling_judgment (assignment_id, campaign_id, value_id, annotator_id, kind, ordering, shown_order,
                                   latency_ms, client_info, weight, is_quality_check, created_at)
    VALUES (%(lease)s, %(campaign)s, %(value)s, %(annotator)s, %(kind)s, %(ordering)s::jsonb, %(shown)s::jsonb,
            %(latency)s, %(client_info)s::jsonb, 1.0, false, %(now)s)
    RETURNING id
), closed AS (
    UPDATE labeling_assignment SET status = 'submitted' WHERE id = %(lease)s
), items AS (
    -- locked in id order first, as every writer of these rows locks them: overlapping submits cannot deadlock
    UPDATE labeling_campaignitem
       SET in_flight = GREATEST(in_flight - 1, 0),
           judgments_count = judgments_count + 1,
           is_active = CASE WHEN judgments_count >= %(per_item)s - 1 THEN false ELSE is_active END
     WHERE id IN (SELECT id FROM labeling_campaignitem WHERE campaign_id = %(campaign)s
                   AND pool_item_id = ANY(%(items)s) ORDER BY id FOR UPDATE)
    RETURNING id
), member AS (
    -- after the items (the scalar subquery runs the items' update first), as the ORM path orders its writes
    UPDATE labeling_campaignmember SET judgments_count = judgments_count + 1 {member_counters}
     WHERE campaign_id = %(campaign)s AND annotator_id = %(annotator)s AND (SELECT count(*) FROM items) >= 0
)
SELECT id FROM judgment
"""
# Quality counters an ordinary (not quality-control) answer can add to the membership row.
_MEMBER_COUNTERS = ("too_fast_count",)


def judgment_insert(*, judgment: Judgment, lease: Assignment, member_counters: dict[str, int]) -> None:
    """Store `judgment` (unsaved, for the open, non-quality-control `lease`), close the lease, move its items from
    in_flight to judgments_count (retiring those that reach judgments_per_item) and add one judgment and
    `member_counters` to the membership: one statement. Call holding the lease's lock."""
    unknown = set(member_counters) - set(_MEMBER_COUNTERS)
    if unknown:
        raise ValueError(f"not an ordinary answer's counters: {sorted(unknown)}")
    counters = "".join(f", {field} = {field} + %({field})s" for field in member_counters)
    campaign = lease.campaign
    params: dict[str, Any] = {
        "lease": lease.pk,
        "campaign": lease.campaign_id,
        "value": lease.value_id,
        "annotator": lease.annotator_id,
        "kind": judgment.kind,
        "ordering": json.dumps(judgment.ordering),
        "shown": json.dumps(judgment.shown_order),
        "latency": judgment.latency_ms,
        "client_info": json.dumps(judgment.client_info, default=str),
        "now": judgment.created_at,
        "per_item": campaign.judgments_per_item,
        "items": list(lease.item_ids),
        **member_counters,
    }
    with _cursor() as cursor:
        cursor.execute(_JUDGMENT_INSERT.format(member_counters=counters), params)
        (judgment.pk,) = cursor.fetchone()
    judgment._state.adding = False

