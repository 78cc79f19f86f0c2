"""`fusion-prime demo seed`: parties a first settlement can use, made through the services the
API uses, under fixed ids so that running it again makes nothing twice.

Two parties (alice, bob) with approved KYC, a few funded accounts, and a price per traded
asset. Deposits are commands like any other: this stores them, and the caller sends their
tasks after commit and waits for a worker to settle them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.kyc import KycStatus
from app.persistence.compliance_models import KycCase
from app.services import intake
from app.services.compliance import kyc
from app.services.compliance.pii import PiiCipher
from app.services.risk import prices

PARTIES = {"alice": "Alice Example", "bob": "Bob Example"}
DEPOSITS = (("alice", "USD", "10000.00"), ("bob", "ETH", "10"), ("bob", "USD", "1000.00"))
PRICES = (("ETH", "3000.00"), ("BTC", "60000.00"), ("USDC", "1.00"))
REVIEWER = "demo-seed"


@dataclass
class Seeded:
    """What the seed made (`lines`) and what to send once it is committed."""

    lines: list[dict[str, str]] = field(default_factory=list)
    screenings: list[str] = field(default_factory=list)
    recomputes: list[tuple[str, int]] = field(default_factory=list)
    deposits: list[tuple[str, str]] = field(default_factory=list)  # (command_id, task name)


def _approve(session: Session, cipher: PiiCipher, party: str, name: str, *, now: datetime,
             seeded: Seeded) -> None:
    case_id = f"demo-kyc-{party}"
    existing = session.get(KycCase, case_id)
    if existing is not None and existing.status == KycStatus.APPROVED.value:
        seeded.lines.append({"what": "kyc", "party": party, "case_id": case_id,
                             "outcome": "already approved"})
        return
    opened = kyc.open_case(session, cipher, party=party, document_type="passport",
                           personal_data={"full_name": name,
                                          "email": f"{party}@example.com"},
                           photo_quality="high", email_verified=True, phone_verified=False,
                           case_id=case_id)
    if opened.screening_id is not None:
        seeded.screenings.append(opened.screening_id)
    for step in (KycStatus.IN_REVIEW, KycStatus.APPROVED):
        if opened.case.status != step.value:
            kyc.transition_case(session, case_id, to=step.value, reason="demo seed",
                                reviewer=REVIEWER, now=now)
    seeded.lines.append({"what": "kyc", "party": party, "case_id": case_id,
                         "outcome": "approved"})


def seed(session: Session, settings: Settings, cipher: PiiCipher, now: datetime) -> Seeded:
    """Everything in the caller's unit of work; send `Seeded`'s tasks after it commits."""
    seeded = Seeded()
    for party, name in PARTIES.items():
        _approve(session, cipher, party, name, now=now, seeded=seeded)
    # One tick per asset and minute: a second run within the minute records nothing new.
    minute = now.replace(second=0, microsecond=0)
    for asset, price in PRICES:
        tick = prices.record_price(session, asset=asset, price_usd=Decimal(price),
                                   timestamp=minute, source=REVIEWER, now=now)
        if tick.recompute_seq is not None:
            seeded.recomputes.append((tick.asset, tick.recompute_seq))
        seeded.lines.append({"what": "price", "asset": asset, "price_usd": price,
                             "outcome": tick.outcome})
    for account, asset, amount in DEPOSITS:
        command_id = f"demo-seed-deposit-{account}-{asset}"
        accepted = intake.request_deposit(session, settings.asset_decimals, account_id=account,
                                          asset=asset, amount=amount, command_id=command_id)
        seeded.deposits.append((accepted.command_id, accepted.task_name))
        seeded.lines.append({"what": "deposit", "account": account, "asset": asset,
                             "amount": amount, "command_id": command_id,
                             "outcome": "accepted" if accepted.created else "already accepted"})
    return seeded
