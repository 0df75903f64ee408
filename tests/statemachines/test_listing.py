"""The listing machine: its table, Coupang's status names, and any sequence of polls."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines.listing import (
    COUPANG_STATUS,
    LISTING,
    LISTING_STATES,
    LISTING_TRIGGERS,
    advance,
    path_to,
)
from statemachines.machines import Subject

# The expected table, written out independently of statemachines/listing.py.
EXPECTED: dict[tuple[str, str], str] = {
    ("draft", "request_approval"): "awaiting_approval",
    ("draft", "start_review"): "in_review",
    ("awaiting_approval", "start_review"): "in_review",
    ("in_review", "approve"): "approved",
    ("in_review", "approve_partially"): "partially_approved",
    ("in_review", "reject"): "rejected",
    **{(s, "edit"): "draft" for s in ("approved", "partially_approved", "rejected")},
    **{(s, "resubmit"): "in_review" for s in ("approved", "partially_approved", "rejected")},
    **{(s, "delete"): "deleted" for s in LISTING_STATES if s != "deleted"},
}


@pytest.mark.parametrize("state", LISTING_STATES)
@pytest.mark.parametrize("trigger", LISTING_TRIGGERS)
def test_listing_trigger_goes_where_the_table_says_or_is_refused(state: str, trigger: str) -> None:
    subject = Subject(state)

    fired = LISTING.fire(subject, trigger)

    expected = EXPECTED.get((state, trigger))
    assert fired is (expected is not None)
    assert subject.state == (expected or state)


def test_every_coupang_status_name_of_the_documents_names_a_state() -> None:
    assert {name: t.state for name, t in COUPANG_STATUS.items()} == {
        "임시저장중": "draft",
        "임시저장": "draft",
        "승인대기중": "awaiting_approval",
        "심사중": "in_review",
        "승인완료": "approved",
        "부분승인완료": "partially_approved",
        "승인반려": "rejected",
        "상품삭제": "deleted",
    }
    alerting = {name for name, t in COUPANG_STATUS.items() if t.alert}
    assert alerting == {"부분승인완료", "승인반려"}


def test_draft_to_in_review_to_rejected_is_two_seen_steps() -> None:
    subject = Subject("draft")

    first = advance(subject, "심사중")
    second = advance(subject, "승인반려")

    assert first is not None and [(s.trigger, s.catch_up) for s in first] == [("start_review", False)]
    assert second is not None and [(s.trigger, s.catch_up) for s in second] == [("reject", False)]
    assert subject.state == "rejected"


def test_a_product_first_seen_approved_catches_up_through_review() -> None:
    subject = Subject("draft")

    steps = advance(subject, "승인완료")

    assert steps is not None
    assert [(s.source, s.dest, s.catch_up) for s in steps] == [
        ("draft", "in_review", True),
        ("in_review", "approved", False),
    ]


def test_the_same_status_again_changes_nothing() -> None:
    subject = Subject("in_review")

    assert advance(subject, "심사중") == ()
    assert subject.state == "in_review"


def test_a_deleted_product_stays_deleted_and_an_unknown_status_is_refused() -> None:
    deleted = Subject("deleted")
    assert advance(deleted, "승인완료") is None
    assert deleted.state == "deleted"
    draft = Subject("draft")
    assert advance(draft, "판매중지") is None
    assert draft.state == "draft"


def test_path_to_refuses_names_that_are_not_states() -> None:
    with pytest.raises(ValueError):
        path_to("draft", "listed")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(sorted(COUPANG_STATUS)), max_size=12))
def test_any_sequence_of_polled_statuses_ends_in_the_last_reachable_status(names: list[str]) -> None:
    subject = Subject("draft")
    expected = "draft"
    for name in names:
        before = subject.state
        steps = advance(subject, name)
        target = COUPANG_STATUS[name].state
        if before == "deleted":
            # Final: nothing leads out of deleted but staying there.
            assert steps == (() if target == "deleted" else None)
            assert subject.state == "deleted"
            continue
        assert steps is not None
        expected = target
        assert subject.state == target
        # The steps chain from where the product was to the target, each one a legal
        # trigger of the table, and only the last one was seen by a poll.
        chain = [before, *(s.dest for s in steps)]
        assert chain[-1] == target
        for step, source in zip(steps, chain, strict=False):
            assert step.source == source
            assert EXPECTED[(step.source, step.trigger)] == step.dest
        assert [s.catch_up for s in steps] == [True] * (len(steps) - 1) + [False] * bool(steps)
        assert len(steps) <= 3
    assert subject.state == expected
