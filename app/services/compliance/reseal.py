"""After a PII key rotation: move every sealed value to the current PII_ENCRYPTION_KEY.

Each area re-seals its own rows (KYC cases, screening subjects, webhook secrets, notification
emails), a batch at a time under row locks that skip rows in use, so it can run beside the
workers and be stopped and started again. Once nothing is left under a previous key, that key
can leave PII_PREVIOUS_KEYS.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.services.alerts import preferences, subscriptions
from app.services.compliance import kyc, screening
from app.services.compliance.pii import PiiCipher


def reseal_batch(session: Session, cipher: PiiCipher, limit: int = 500) -> dict[str, int]:
    """Re-seal up to `limit` rows of each kind; all zeros means nothing is left to move."""
    return {"kyc_cases": kyc.reseal_cases(session, cipher, limit),
            "screening_subjects": screening.reseal_subjects(session, cipher, limit),
            "webhook_secrets": subscriptions.reseal_secrets(session, cipher, limit),
            "notification_emails": preferences.reseal_emails(session, cipher, limit)}
