"""Every transition of the escrow state machine (DOMAIN.md §2), allowed and refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.errors import GuardFailed, InvalidInput
from app.domain.escrow import Escrow, EscrowStatus, check_terms, normalise_party

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=30)
US = timedelta(microseconds=1)
PAYER = "0xAbCdEf0000000000000000000000000000000001"
PAYEE = "0xAbCdEf0000000000000000000000000000000002"
ARBITER = "0xAbCdEf0000000000000000000000000000000003"
STRANGER = "0xAbCdEf0000000000000000000000000000000009"


def make(approvals: int = 2, arbiter: str | None = ARBITER, payer: str = PAYER,
         payee: str = PAYEE) -> Escrow:
    check_terms(payer, payee, arbiter, Decimal("10"), approvals)
    return Escrow("e1", payer, payee, arbiter, Decimal("10"), "ETH", approvals, T0)


def approved(approvals: int = 1) -> Escrow:
    escrow = make(approvals)
    for who in (PAYER, PAYEE, ARBITER)[:approvals]:
        escrow.approve(who)
    assert escrow.status is EscrowStatus.APPROVED
    return escrow


# ---- creation guards ----------------------------------------------------------------------

@pytest.mark.parametrize(("payer", "payee", "arbiter", "amount", "approvals", "code"), [
    ("alice", "bob", None, Decimal("0"), 1, "amount_not_positive"),
    ("alice", "bob", None, Decimal("-0.01"), 1, "amount_not_positive"),
    ("alice", "alice", None, Decimal("1"), 1, "payer_is_payee"),
    (PAYER, PAYER.lower(), None, Decimal("1"), 1, "payer_is_payee"),
    (PAYER.upper().replace("0X", "0x"), PAYER, None, Decimal("1"), 1, "payer_is_payee"),
    (" " + PAYER, PAYER + " ", None, Decimal("1"), 1, "payer_is_payee"),
    ("alice", "bob", None, Decimal("1"), 0, "approvals_out_of_range"),
    ("alice", "bob", "carol", Decimal("1"), 4, "approvals_out_of_range"),
    ("alice", "bob", None, Decimal("1"), -1, "approvals_out_of_range"),
    ("alice", "bob", None, Decimal("1"), 3, "arbiter_required"),
    ("alice", "bob", "", Decimal("1"), 3, "arbiter_required"),
    ("alice", "bob", "alice", Decimal("1"), 2, "arbiter_is_party"),
    ("alice", "bob", "bob", Decimal("1"), 3, "arbiter_is_party"),
    (PAYER, PAYEE, PAYEE.upper().replace("0X", "0x"), Decimal("1"), 3, "arbiter_is_party"),
    (PAYER, PAYEE, PAYER.lower(), Decimal("1"), 1, "arbiter_is_party"),
])
def test_check_terms_refuses(payer: str, payee: str, arbiter: str | None, amount: Decimal,
                             approvals: int, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_terms(payer, payee, arbiter, amount, approvals)
    assert info.value.code == code


@pytest.mark.parametrize(("payer", "payee", "arbiter", "approvals"), [
    ("alice", "bob", None, 1),
    ("alice", "bob", None, 2),
    ("alice", "bob", "carol", 3),
    ("alice", "Alice", None, 1),  # account names keep their case: two different accounts
    (PAYER, PAYEE, None, 2),
    (PAYER, PAYEE, ARBITER, 3),
])
def test_check_terms_accepts(payer: str, payee: str, arbiter: str | None,
                             approvals: int) -> None:
    check_terms(payer, payee, arbiter, Decimal("0.01"), approvals)


@pytest.mark.parametrize(("raw", "normal"), [
    ("0xABC", "0xabc"), ("0XAbC", "0xabc"), ("  0xAB ", "0xab"), ("Alice", "Alice"),
    (" bob ", "bob"),
])
def test_normalise_party(raw: str, normal: str) -> None:
    assert normalise_party(raw) == normal


# ---- approvals ----------------------------------------------------------------------------

@pytest.mark.parametrize(("required", "approvers", "status", "count"), [
    (1, [PAYER], EscrowStatus.APPROVED, 1),
    (1, [PAYEE], EscrowStatus.APPROVED, 1),
    (1, [ARBITER], EscrowStatus.APPROVED, 1),
    (2, [PAYER], EscrowStatus.CREATED, 1),
    (2, [PAYER, PAYER], EscrowStatus.CREATED, 1),
    (2, [PAYER, PAYER.lower()], EscrowStatus.CREATED, 1),
    (2, [PAYER, PAYER.upper().replace("0X", "0x")], EscrowStatus.CREATED, 1),
    (2, [PAYER, PAYEE], EscrowStatus.APPROVED, 2),
    (2, [PAYEE.lower(), ARBITER.upper().replace("0X", "0x")], EscrowStatus.APPROVED, 2),
    (3, [PAYER, PAYEE, PAYEE.lower()], EscrowStatus.CREATED, 2),
    (3, [PAYER, PAYEE, ARBITER], EscrowStatus.APPROVED, 3),
    (2, [PAYER, PAYEE, ARBITER], EscrowStatus.APPROVED, 3),  # approving an approved escrow
])
def test_each_approver_counts_once(required: int, approvers: list[str], status: EscrowStatus,
                                   count: int) -> None:
    escrow = make(required)
    for who in approvers:
        escrow.approve(who)
    assert escrow.status is status
    assert len(escrow.approvers) == count


def test_approve_reports_whether_anything_changed() -> None:
    escrow = make(2)
    assert escrow.approve(PAYER) is True
    assert escrow.approve(PAYER.lower()) is False
    assert escrow.approve(PAYEE) is True
    assert escrow.approvers == {PAYER.lower(), PAYEE.lower()}


@pytest.mark.parametrize(("arbiter", "stranger"), [
    (ARBITER, STRANGER),
    (None, ARBITER),  # no arbiter on this escrow: the would-be arbiter is a stranger
    (ARBITER, "alice"),
])
def test_non_party_approval_is_refused(arbiter: str | None, stranger: str) -> None:
    escrow = make(2, arbiter=arbiter)
    with pytest.raises(GuardFailed) as info:
        escrow.approve(stranger)
    assert info.value.code == "approver_not_party"
    assert escrow.approvers == set()
    assert escrow.status is EscrowStatus.CREATED


def test_named_accounts_are_case_sensitive_parties() -> None:
    escrow = make(1, arbiter=None, payer="alice", payee="bob")
    with pytest.raises(GuardFailed) as info:
        escrow.approve("Alice")
    assert info.value.code == "approver_not_party"


def _released() -> Escrow:
    escrow = approved()
    assert escrow.release(T0)
    return escrow


def _refunded() -> Escrow:
    escrow = make(2)
    assert escrow.refund(PAYER, T0 + GRACE, GRACE)
    return escrow


@pytest.mark.parametrize("terminal", [_released, _refunded])
@pytest.mark.parametrize("who", [PAYER, PAYEE, ARBITER, STRANGER])
def test_terminal_states_ignore_approvals(terminal: Callable[[], Escrow], who: str) -> None:
    escrow = terminal()
    status, approvers = escrow.status, set(escrow.approvers)
    assert escrow.approve(who) is False
    assert escrow.status is status
    assert escrow.approvers == approvers


# ---- release ------------------------------------------------------------------------------

@pytest.mark.parametrize(("approvals_given", "now", "code"), [
    (0, T0, "not_approved"),
    (1, T0 + GRACE, "not_approved"),  # 1 of 2
    (2, T0 - US, "release_time_not_reached"),
    (2, T0 - timedelta(days=1), "release_time_not_reached"),
])
def test_release_refused(approvals_given: int, now: datetime, code: str) -> None:
    escrow = make(2)
    for who in (PAYER, PAYEE)[:approvals_given]:
        escrow.approve(who)
    status = escrow.status
    with pytest.raises(GuardFailed) as info:
        escrow.release(now)
    assert info.value.code == code
    assert escrow.status is status


@pytest.mark.parametrize("now", [T0, T0 + US, T0 + GRACE * 2])
def test_release_from_release_time(now: datetime) -> None:
    escrow = approved(2)
    assert escrow.release(now) is True
    assert escrow.status is EscrowStatus.RELEASED
    assert escrow.release(now) is False  # replay: a no-op, not an error
    assert escrow.release(T0 - US) is False
    assert escrow.status is EscrowStatus.RELEASED


def test_release_after_refund_is_refused() -> None:
    escrow = approved(1)
    assert escrow.refund(PAYER, T0 + GRACE, GRACE)
    with pytest.raises(GuardFailed) as info:
        escrow.release(T0 + GRACE)
    assert info.value.code == "escrow_terminal"
    assert escrow.status is EscrowStatus.REFUNDED


# ---- refund -------------------------------------------------------------------------------

@pytest.mark.parametrize("approvals_given", [0, 1, 2])  # from created or approved
@pytest.mark.parametrize(("who", "now", "code"), [
    (PAYEE, T0 + GRACE, "refund_not_by_payer"),
    (ARBITER, T0 + GRACE * 2, "refund_not_by_payer"),
    (STRANGER, T0 + GRACE, "refund_not_by_payer"),
    (PAYER, T0 + GRACE - US, "refund_not_yet_allowed"),
    (PAYER, T0, "refund_not_yet_allowed"),
    (PAYER.lower(), T0 - US, "refund_not_yet_allowed"),
])
def test_refund_refused(approvals_given: int, who: str, now: datetime, code: str) -> None:
    escrow = make(2)
    for approver in (PAYER, PAYEE)[:approvals_given]:
        escrow.approve(approver)
    status = escrow.status
    with pytest.raises(GuardFailed) as info:
        escrow.refund(who, now, GRACE)
    assert info.value.code == code
    assert escrow.status is status


@pytest.mark.parametrize("approvals_given", [0, 1, 2])
@pytest.mark.parametrize(("who", "now"), [
    (PAYER, T0 + GRACE),  # exactly at the boundary
    (PAYER.lower(), T0 + GRACE + US),
    (PAYER.upper().replace("0X", "0x"), T0 + GRACE * 3),
])
def test_refund_by_payer_from_release_time_plus_grace(approvals_given: int, who: str,
                                                      now: datetime) -> None:
    escrow = make(2)
    for approver in (PAYER, PAYEE)[:approvals_given]:
        escrow.approve(approver)
    assert escrow.refund(who, now, GRACE) is True
    assert escrow.status is EscrowStatus.REFUNDED
    assert escrow.refund(who, now, GRACE) is False  # a replay is a no-op
    assert escrow.status is EscrowStatus.REFUNDED


def test_refund_grace_is_a_parameter() -> None:
    escrow = make(2)
    with pytest.raises(GuardFailed):
        escrow.refund(PAYER, T0 - US, timedelta(0))
    assert escrow.refund(PAYER, T0, timedelta(0)) is True


def test_refund_after_release_is_refused() -> None:
    escrow = _released()
    with pytest.raises(GuardFailed) as info:
        escrow.refund(PAYER, T0 + GRACE * 2, GRACE)
    assert info.value.code == "escrow_terminal"
    assert escrow.status is EscrowStatus.RELEASED


def test_terminal_property() -> None:
    assert {s for s in EscrowStatus if s.terminal} == {EscrowStatus.RELEASED,
                                                        EscrowStatus.REFUNDED}


def test_the_zero_address_means_no_arbiter() -> None:
    from app.domain.parties import is_zero_address  # noqa: PLC0415

    assert is_zero_address("0x" + "0" * 40)
    assert is_zero_address(" 0X00 ")
    assert not is_zero_address("0x" + "0" * 39 + "1")
    assert not is_zero_address("alice")
