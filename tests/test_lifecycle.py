"""Lifecycle: the BG/NBD fit against the published CDNOW estimates, stage boundaries, RFM,
and the recompute engine through the CLI (full, then incremental)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.lifecycle import bgnbd, rfm, stages
from bot.lifecycle.cdnow import cohort
from bot.lifecycle.stages import Rules, decide, describe
from storage.db import Database
from storage.models import CustomerStats, ModelFit

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_bgnbd_reproduces_the_published_cdnow_estimates() -> None:
    c = cohort()
    assert len(c.x) == 2357 and c.x.sum() == 2457
    p = bgnbd.fit(c.x, c.tx, c.T, model="bgnbd")
    for got, published in [(p.r, 0.243), (p.alpha, 4.414), (p.a, 0.793), (p.b, 2.426)]:
        assert got == pytest.approx(published, rel=0.01)
    assert p.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_one_time_buyers_are_not_certainly_alive() -> None:
    c = cohort()
    plain = bgnbd.fit(c.x, c.tx, c.T, model="bgnbd")
    modified = bgnbd.fit(c.x, c.tx, c.T, model="mbgnbd")
    one_time = c.x == 0
    assert np.all(bgnbd.p_alive(plain, c.x, c.tx, c.T)[one_time] == 1.0)  # the flaw
    mb = bgnbd.p_alive(modified, c.x, c.tx, c.T)
    assert np.all(mb[one_time] < 1.0) and np.all(mb > 0)
    # Waiting longer without buying lowers P(alive).
    x, tx = np.array([3.0, 3.0]), np.array([10.0, 10.0])
    young, old = bgnbd.p_alive(modified, x, tx, np.array([12.0, 60.0]))
    assert young > old
    # Expected purchases over the holdout are in the right range (1,882 actually happened).
    assert 1400 < bgnbd.expected_purchases(plain, 39, c.x, c.tx, c.T).sum() < 2100


RULES = Rules(
    new_days=30,
    silent_ratio=1.5,
    churn_ratio=2.5,
    lost_ratio=4.0,
    lost_p_alive=0.2,
    min_gap_days=14,
)


def _stage(
    days_since_last: float,
    *,
    gap: float | None = 30.0,
    occasions: int = 5,
    age_days: float = 400,
    p: float | None = 0.5,
    current: str | None = None,
    population_gap: float = 60.0,
) -> str:
    return decide(
        now=NOW,
        first=NOW - timedelta(days=age_days),
        last=NOW - timedelta(days=days_since_last),
        occasions=occasions,
        own_gap=gap,
        population_gap=population_gap,
        p_alive=p,
        rules=RULES,
        current=current,
    ).stage


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (0, "active"),
        (45, "active"),
        (45.01, "silent"),
        (75, "silent"),
        (75.01, "churn_risk"),
        (120, "churn_risk"),
    ],
)
def test_repeat_buyer_stage_boundaries_follow_their_own_gap(days: float, stage: str) -> None:
    assert _stage(days, p=0.05) == stage


def test_lost_needs_both_long_absence_and_low_p_alive() -> None:
    assert _stage(120.01, p=0.05) == "lost"
    assert _stage(120.01, p=0.5) == "churn_risk"


def test_new_prospect_deleted_and_one_time_buyers() -> None:
    assert _stage(29.9, occasions=1, age_days=29.9, gap=None) == "new"
    assert (
        _stage(30.1, occasions=1, age_days=30.1, gap=None) == "active"
    )  # population gap 60: 30 < 90
    assert _stage(91, occasions=1, age_days=91, gap=None) == "silent"  # > 1.5 x 60
    assert (
        _stage(10, gap=3.0) == "active" and _stage(22, gap=3.0) == "silent"
    )  # gap floored at 14 days
    assert _stage(5, current="deleted") == "deleted"
    v = decide(
        now=NOW,
        first=None,
        last=None,
        occasions=0,
        own_gap=None,
        population_gap=60,
        p_alive=None,
        rules=RULES,
    )
    assert v.stage == "prospect" and v.next_change_at is None


def test_next_change_date_is_when_the_stage_would_change_on_its_own() -> None:
    v = decide(
        now=NOW,
        first=NOW - timedelta(days=300),
        last=NOW - timedelta(days=10),
        occasions=6,
        own_gap=30,
        population_gap=60,
        p_alive=0.9,
        rules=RULES,
    )
    assert v.stage == "active" and v.next_change_at == NOW - timedelta(days=10) + timedelta(days=45)


def test_reasons_read_like_sentences_in_both_languages() -> None:
    v = decide(
        now=NOW,
        first=NOW - timedelta(days=400),
        last=NOW - timedelta(days=94),
        occasions=6,
        own_gap=31,
        population_gap=60,
        p_alive=0.18,
        rules=RULES,
    )
    assert (
        describe(v.reason, "en")
        == "last order 94 days ago; usually buys every 31 days; P(alive) 0.18"
    )
    assert describe(v.reason, "zh") == "上次购买 94 天前；平时每 31 天买一次；在购概率 0.18"
    once = decide(
        now=NOW,
        first=NOW - timedelta(days=100),
        last=NOW - timedelta(days=100),
        occasions=1,
        own_gap=None,
        population_gap=45,
        p_alive=0.3,
        rules=RULES,
    )
    assert "customers like them return in about 45 days" in describe(once.reason, "en")


def test_rfm_quintiles_are_deterministic_and_segments_narrow_first() -> None:
    values = np.array([5.0, 5.0, 5.0, 1.0, 9.0, 2.0, 2.0, 7.0, 3.0, 4.0])
    ids = np.arange(10, dtype=np.int64)
    q = rfm.quintiles(values, ids)
    assert list(q) == list(rfm.quintiles(values, ids))
    assert sorted(q) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert q[4] == 5 and q[3] == 1 and q[0] < q[2]  # ties broken by id
    assert rfm.segment(1, 5, 5) == "Can't Lose Them"  # before the broader At Risk
    assert rfm.segment(2, 3, 1) == "At Risk"
    assert rfm.segment(5, 5, 5) == "Champions" and rfm.segment(1, 1, 1) == "Lost"
    c = rfm.cuts(np.arange(100.0), np.arange(100.0), np.arange(100.0))
    assert rfm.score_with(c, 0, 99, 99) == (5, 5, 5) and rfm.score_with(c, 99, 0, 0) == (1, 1, 1)


def _history(api, n_customers: int = 24) -> None:  # type: ignore[no-untyped-def]
    """Customers with different rhythms: every 10, 30, 60 days; some one-time buyers."""
    rows = []
    for c in range(n_customers):
        gap = [10, 30, 60, 0][c % 4]
        count = 1 if gap == 0 else 4 + c % 3
        start = NOW - timedelta(days=400 - 7 * c)
        for k in range(count):
            at = start + timedelta(days=gap * k)
            rows.append(
                {
                    "order_no": f"C{c}-{k}",
                    "member_no": f"M{c}",
                    "ordered_at": at.isoformat(),
                    "paid_cents": 10000 + 500 * c,
                }
            )
    assert api("orders", rows)["rejected"] == 0


def _stats(db: Database) -> dict[str, CustomerStats]:
    from storage.models import CustomerIdentity

    with db.session() as s:
        rows = s.execute(
            select(CustomerIdentity.value, CustomerStats).join(
                CustomerStats, CustomerStats.customer_id == CustomerIdentity.customer_id
            )
        ).all()
        return {member: st for member, st in rows}


def test_recompute_full_then_incremental_through_the_cli(api, cli, db: Database) -> None:  # type: ignore[no-untyped-def]
    _history(api)
    code, out = cli("recompute", "--full", "--today", "2026-11-22")
    assert code == 0, out
    assert "full run: 24 customers scored, model refitted" in out and "MBG/NBD r=" in out
    stats = _stats(db)
    assert all(
        not st.dirty and st.stage in {"active", "silent", "churn_risk", "lost", "new"}
        for st in stats.values()
    )
    assert all(st.rfm_r and st.rfm_segment and st.p_alive is not None for st in stats.values())
    with db.session() as s:
        assert len(s.scalars(select(ModelFit)).all()) == 1

    # Nothing is due the next morning: the incremental run reads nobody.
    code, out = cli("recompute", "--today", "2026-11-23")
    assert "incremental run: 0 customers scored" in out

    # A new order dirties one customer; only that one (and whoever is due) is rescored.
    api(
        "orders",
        [
            {
                "order_no": "NEW1",
                "member_no": "M3",
                "ordered_at": "2026-11-23 10:00",
                "paid_cents": 100,
            }
        ],
    )
    code, out = cli("recompute", "--today", "2026-11-23")
    assert "incremental run: 1 customers scored" in out
    assert _stats(db)["M3"].stage == "active"

    # Time alone moves an active customer on (silent by rhythm, or churn risk by a churn
    # probability that grew with the quiet days): found through next_change_at.
    active = {m: st for m, st in _stats(db).items() if st.stage == "active" and st.next_change_at}
    member, st = min(active.items(), key=lambda kv: kv[1].next_change_at)  # type: ignore[arg-type, return-value]
    day = (st.next_change_at + timedelta(days=1)).date().isoformat()  # type: ignore[operator]
    code, out = cli("recompute", "--today", day)
    assert "active->silent" in out or "active->churn_risk" in out
    assert _stats(db)[member].stage in ("silent", "churn_risk")
    assert "refitted" not in out  # the model is refitted on a schedule, not by the daily run


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "active", "silent", "deleted"]),
            st.one_of(st.none(), st.integers(0, 2_000 * 86_400_000_000)),  # first, us before now
            st.integers(0, 2_000 * 86_400_000_000),  # last after first, us
            st.integers(0, 40),
            st.one_of(st.none(), st.just(0.0), st.floats(0.5, 400)),
            st.one_of(st.none(), st.floats(0, 1)),
            st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.6, 0.9])),  # churn
        ),
        min_size=1,
        max_size=40,
    ),
    st.floats(5, 200),
    st.booleans(),
)
def test_decide_many_gives_what_decide_gives(rows, population_gap: float, calibrated: bool) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 6, 30, 12, 0, 0, 123456, tzinfo=UTC)
    rules = stages.Rules(churn_decides=calibrated)
    firsts = [None if f is None else now - timedelta(microseconds=f) for _, f, *_ in rows]
    lasts = [
        None if f is None else min(f + timedelta(microseconds=gap), now + timedelta(days=3))
        for f, (_, _, gap, *_) in zip(firsts, rows, strict=True)
    ]
    got = stages.decide_many(
        now=now,
        first=stages.to_us(firsts),
        last=stages.to_us(lasts),
        occasions=np.array([r[3] for r in rows], dtype=np.int64),
        own_gap=np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
        population_gap=population_gap,
        p_alive=np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=np.float64),
        rules=rules,
        current=[r[0] for r in rows],
        churn=np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=np.float64),
    )
    for i, (current, _, _, occasions, own_gap, p_alive, churn) in enumerate(rows):
        want = stages.decide(
            now=now,
            first=firsts[i],
            last=lasts[i],
            occasions=occasions,
            own_gap=own_gap,
            population_gap=population_gap,
            p_alive=p_alive,
            rules=rules,
            current=current,
            churn=churn,
        )
        assert (got.stage[i], got.reason[i], got.next_change_at[i]) == (
            want.stage,
            want.reason,
            want.next_change_at,
        )


def test_churn_probability_closed_form() -> None:
    """P(no purchase in t) is 1 at t = 0 and falls with t towards 1 − P(alive); for a short t
    what it loses is the purchase rate: the same as expected purchases per week."""
    from bot.lifecycle import churn

    c = cohort()
    p = bgnbd.fit(c.x, c.tx, c.T, model="mbgnbd")
    x, tx, T = c.x[:200], c.tx[:200], c.T[:200]
    assert np.allclose(churn.raw(p, x, tx, T, 0.0), 1.0)
    short = 1e-4
    assert np.allclose(
        (1 - churn.raw(p, x, tx, T, short)) / short,
        bgnbd.expected_purchases(p, short, x, tx, T) / short,
        rtol=1e-3,
    )
    h = [churn.raw(p, x, tx, T, w) for w in (4, 13, 52, 1e9)]
    assert all(np.all(a >= b) for a, b in itertools.pairwise(h))
    assert np.allclose(h[-1], 1 - bgnbd.p_alive(p, x, tx, T), atol=1e-3)


def test_platt_fixes_an_over_confident_score_and_keeps_its_order() -> None:
    from bot.lifecycle import churn

    rng = np.random.default_rng(3)
    truth = rng.uniform(0.2, 0.8, 20_000)
    y = rng.uniform(size=truth.size) < truth
    said = np.clip(truth + 0.15, 0, 0.999)  # says 15 points too much
    fixed = churn.Platt.fit(said, y).apply(said)
    assert abs(fixed.mean() - y.mean()) < 0.01 < abs(said.mean() - y.mean())
    assert churn.auc(fixed, y) == pytest.approx(churn.auc(said, y))
    table = churn.calibration_table(fixed, y)
    assert len(table) == 10 and all(abs(r["predicted"] - r["observed"]) < 0.05 for r in table)


def test_reason_shows_the_churn_probability_in_the_guides_words() -> None:
    v = decide(
        now=NOW,
        first=NOW - timedelta(days=300),
        last=NOW - timedelta(days=94),
        occasions=5,
        own_gap=31.0,
        population_gap=40.0,
        p_alive=0.3,
        rules=Rules(churn_p=0.6, lost_p=0.9, horizon_days=90),
        churn=0.781,
    )
    assert v.stage == "churn_risk"
    assert (
        describe(v.reason, "zh") == "流失概率 78%（90 天内）；上次购买 94 天前；平时每 31 天买一次"
    )
    assert describe(v.reason, "en") == (
        "churn probability 78% (90 days); last order 94 days ago; usually buys every 31 days"
    )
    lost = decide(
        now=NOW,
        first=NOW - timedelta(days=300),
        last=NOW - timedelta(days=10),
        occasions=5,
        own_gap=31.0,
        population_gap=40.0,
        p_alive=0.3,
        rules=Rules(),
        churn=0.95,
    )
    assert lost.stage == "lost"  # the score decides, even when the rhythm says active
    calm = decide(
        now=NOW,
        first=NOW - timedelta(days=300),
        last=NOW - timedelta(days=60),
        occasions=5,
        own_gap=31.0,
        population_gap=40.0,
        p_alive=0.9,
        rules=Rules(),
        churn=0.3,
    )
    assert calm.stage == "silent" and calm.next_change_at == NOW + stages.RECHECK


def test_a_diverged_score_has_no_auc_so_the_fit_stays_storable() -> None:
    """NaN scores (a logistic fit that diverged on the fault benchmark's seed) made the
    backtest's AUC NaN, which PostgreSQL's JSON rejects: the whole refit failed."""
    import json

    from bot.lifecycle import churn

    y = np.array([True, False, True, False])
    score = np.array([0.9, np.nan, 0.7, 0.2])
    assert churn.auc(score, y) is None and churn.pr_auc(score, y) is None
    json.dumps({"auc": churn.auc(score, y)}, allow_nan=False)
    assert churn.auc(np.array([0.9, 0.1, 0.7, 0.2]), y) == 1.0
