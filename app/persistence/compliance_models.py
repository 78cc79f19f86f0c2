"""Compliance tables (DOMAIN.md §4) on the shared declarative Base; migration 0003 creates them.

Personal data is minimised and sealed: a KYC case keeps its personal fields only as one AES-GCM
ciphertext (`personal_data`), and a screening subject its names likewise (`names_sealed`);
`pii_key_id` names the key that sealed them. What stays in clear is what the workflow needs to
query: party ids, statuses, the verification flags and score, crypto addresses (public chain
identifiers, already the party ids of settlement), and the list side of screening results.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.persistence.models import Base, utcnow

Score = Numeric(5, 4)


class KycCase(Base):
    __tablename__ = "kyc_cases"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'in_review', 'needs_info', 'approved', "
                        "'rejected')", name="status_known"),
        # One open case per party; a decided case is final and re-verification opens a new one.
        Index("ux_kyc_cases_open_party", "party", unique=True,
              postgresql_where=text("status IN ('pending', 'in_review', 'needs_info')")),
        Index("ix_kyc_cases_party_decided", "party", "decided_at"),
    )

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    party: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    document_type: Mapped[str] = mapped_column(String(32))
    photo_quality: Mapped[str] = mapped_column(String(8))
    data_complete: Mapped[bool]
    email_verified: Mapped[bool]
    phone_verified: Mapped[bool]
    verification_score: Mapped[Decimal] = mapped_column(Score)
    personal_data: Mapped[bytes] = mapped_column(LargeBinary)
    pii_key_id: Mapped[str] = mapped_column(String(16))
    request_hash: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)
    decided_at: Mapped[datetime | None]


class KycCaseEvent(Base):
    """The case's history: its opening (from_status NULL) and every transition."""

    __tablename__ = "kyc_case_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("kyc_cases.case_id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class AmlCheck(Base):
    """A reported transaction and its assessment. The rows of a party are its history for the
    windowed rules, whether or not their own assessment has run yet."""

    __tablename__ = "aml_checks"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'completed')", name="status_known"),
        Index("ix_aml_checks_party_time", "party", "occurred_at"),
    )

    check_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    party: Mapped[str] = mapped_column(String(200))
    counterparty: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal]
    asset: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    occurred_at: Mapped[datetime]
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    usd_value: Mapped[Decimal | None]
    valuation: Mapped[dict[str, Any] | None]
    score: Mapped[Decimal | None] = mapped_column(Score)
    level: Mapped[str | None] = mapped_column(String(8))
    fired: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)  # rules with evidence
    rules_version: Mapped[str | None] = mapped_column(String(64))
    alert_id: Mapped[str | None] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]


class ComplianceAlert(Base):
    """An AML alert (or a chain-fact alert) and its workflow; `dedup_key` makes opening it
    idempotent per cause."""

    __tablename__ = "compliance_alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'investigating', 'resolved', 'false_positive')",
                        name="status_known"),
        CheckConstraint("level IN ('low', 'medium', 'high')", name="level_known"),
        Index("ix_compliance_alerts_party_status", "party", "status"),
    )

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    party: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="open")
    check_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # transitions
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class SanctionsListVersion(Base):
    __tablename__ = "sanctions_list_versions"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'superseded')", name="status_known"),
        Index("ux_sanctions_list_active", "source", unique=True,
              postgresql_where=text("status = 'active'")),
    )

    version_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    entry_count: Mapped[int]
    alias_count: Mapped[int]
    address_count: Mapped[int]
    location_count: Mapped[int]
    loaded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SanctionsEntry(Base):
    __tablename__ = "sanctions_entries"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("sanctions_list_versions.version_id"), primary_key=True)
    uid: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    sdn_type: Mapped[str] = mapped_column(String(16))
    programs: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)


class SanctionsName(Base):
    """Primary names and aliases, each with its normalised (sorted-token) form."""

    __tablename__ = "sanctions_names"
    __table_args__ = (
        ForeignKeyConstraint(["version_id", "uid"],
                             ["sanctions_entries.version_id", "sanctions_entries.uid"]),
        Index("ix_sanctions_names_version", "version_id", "uid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # primary | aka | fka | nka | remark_aka ...
    normalised: Mapped[str] = mapped_column(Text)


class SanctionsAddress(Base):
    """Digital currency addresses from the remarks, matched exactly and case-insensitively."""

    __tablename__ = "sanctions_addresses"
    __table_args__ = (
        ForeignKeyConstraint(["version_id", "uid"],
                             ["sanctions_entries.version_id", "sanctions_entries.uid"]),
        Index("ix_sanctions_addresses_lookup", "address_lower", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(200))
    address_lower: Mapped[str] = mapped_column(String(200))


class SanctionsLocation(Base):
    """Postal addresses (add.csv), kept as evidence for reviewers."""

    __tablename__ = "sanctions_locations"
    __table_args__ = (
        ForeignKeyConstraint(["version_id", "uid"],
                             ["sanctions_entries.version_id", "sanctions_entries.uid"]),
        Index("ix_sanctions_locations_version", "version_id", "uid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)


class ScreeningSubject(Base):
    """A known party and what it is screened as: names (sealed) and crypto addresses."""

    __tablename__ = "screening_subjects"

    party: Mapped[str] = mapped_column(String(200), primary_key=True)
    names_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    pii_key_id: Mapped[str | None] = mapped_column(String(16))
    name_count: Mapped[int] = mapped_column(default=0)
    addresses: Mapped[list[str]] = mapped_column(JSONB)  # lower-cased
    # date of birth, country, entity type (app.domain.compliance.attributes), sealed like the
    # names and under the same key (migration 0011)
    attributes_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class Screening(Base):
    """One screening of a party against one list version. The query names are not repeated
    here (they are sealed on the subject); results name the listed side only."""

    __tablename__ = "screenings"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed')", name="status_known"),
        CheckConstraint("decision IS NULL OR decision IN ('clear', 'possible', 'match')",
                        name="decision_known"),
        Index("ix_screenings_party_completed", "party", "completed_at"),
    )

    screening_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    party: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # api | kyc | rescreen
    status: Mapped[str] = mapped_column(String(16), default="pending")
    request_hash: Mapped[str] = mapped_column(String(64))
    list_version_id: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(8))
    hits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    screened: Mapped[dict[str, Any] | None]  # how many names and addresses were screened
    rescreen_run_id: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]


class RescreenRun(Base):
    __tablename__ = "rescreen_runs"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'running', 'completed', 'cancelled')",
                        name="status_known"),
    )

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    list_version_id: Mapped[int] = mapped_column(
        ForeignKey("sanctions_list_versions.version_id"))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    total_parties: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    chunks_done: Mapped[int] = mapped_column(default=0)
    parties_done: Mapped[int] = mapped_column(default=0)
    new_hits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    planned_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RescreenChunk(Base):
    __tablename__ = "rescreen_chunks"

    run_id: Mapped[str] = mapped_column(ForeignKey("rescreen_runs.run_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    parties: Mapped[list[str]] = mapped_column(JSONB)
    done: Mapped[bool] = mapped_column(default=False)
    new_hits: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]


class ScreeningReview(Base):
    """A reviewer's decision on one hit of a screening: who, when, why (migration 0011).

    The decision takes effect as a new completed screening of the party (`result_screening_id`,
    source `review`), which is what the gate reads; later screenings of the party carry the
    decision forward for the same listed entry (a dismissal only while the hit stays
    `possible`). The rows are the history: never updated, never deleted.
    """

    __tablename__ = "screening_reviews"
    __table_args__ = (
        CheckConstraint("action IN ('dismiss', 'confirm')", name="action_known"),
        Index("ix_screening_reviews_party", "party", "decided_at"),
    )

    review_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    screening_id: Mapped[str] = mapped_column(ForeignKey("screenings.screening_id"))
    party: Mapped[str] = mapped_column(String(200))
    list_source: Mapped[str] = mapped_column(String(32))
    entry_uid: Mapped[int | None] = mapped_column(Integer)  # None: an unscreenable name
    query: Mapped[str | None] = mapped_column(String(32))  # that name's position, name[i]
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    result_screening_id: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())
