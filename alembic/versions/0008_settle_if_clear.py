"""settle_if_clear: a settlement command's happy path in one statement

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

The function settles a DVP or collateral transfer only when nothing needs deciding: the
command is `received` and complete, its deadline has not passed, both parties are clear by
every rule of the compliance gate, every balance its legs move exists and the payers can
cover them. Then it writes exactly what app/services/settlement.py writes for a settled
command (balances, posted transfers, the command's walk, its `command.settled` event) and
returns true. Otherwise it writes nothing and returns false, and the Python rules decide (the
settlement task then runs them in a unit of work): every refusal, hold and first use stays
theirs alone.

Where a rule could be read two ways (two screenings or KYC decisions at the same instant, two
active list versions), this function takes the stricter reading and leaves the command to the
Python rules. tests/integration/test_settlement_fast_path.py holds the two to the same
outcome on every case it builds. A change to the gate or the ledger rules needs a migration
replacing this function, or SETTLEMENT_FAST_PATH=false until one exists.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLE_IF_CLEAR = """
CREATE OR REPLACE FUNCTION settle_if_clear(
    p_command_id text, p_now timestamptz, p_kyc_required boolean, p_event_id text,
    p_topic text, p_occurred_at text, p_list_source text, p_aml_kind text,
    p_active_alert_statuses text[]
) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    c record;
    b record;
    locked integer := 0;
    needed integer;
BEGIN
    SELECT * INTO c FROM commands WHERE command_id = p_command_id FOR UPDATE;
    IF NOT FOUND OR c.status <> 'received' OR c.type NOT IN ('COLLATERAL_TRANSFER', 'DVP')
       OR c.payer IS NULL OR c.payee IS NULL OR c.payer = c.payee
       OR c.asset IS NULL OR c.amount IS NULL OR c.amount <= 0
       OR (c.deadline IS NOT NULL AND p_now > c.deadline)
       OR (c.type = 'DVP' AND (c.counter_asset IS NULL OR c.counter_amount IS NULL
                               OR c.counter_amount <= 0 OR c.counter_asset = c.asset))
       OR (c.type = 'COLLATERAL_TRANSFER' AND c.counter_asset IS NOT NULL) THEN
        RETURN false;
    END IF;

    -- The compliance gate (app/services/compliance/gate.py), both parties: anything but
    -- clear is the rules' to decide.
    IF EXISTS (
        SELECT 1 FROM (VALUES (c.payer), (c.payee)) AS p(party)
        WHERE EXISTS (
                SELECT 1 FROM sanctions_addresses AS a
                JOIN sanctions_list_versions AS v ON v.version_id = a.version_id
                WHERE v.source = p_list_source AND v.status = 'active'
                  AND a.address_lower = lower(p.party))
           OR EXISTS (
                SELECT 1 FROM screenings AS s
                WHERE s.party = p.party AND s.status = 'completed'
                  AND s.decision IN ('match', 'possible')
                  AND s.completed_at = (SELECT max(completed_at) FROM screenings
                                        WHERE party = p.party AND status = 'completed'))
           OR EXISTS (
                SELECT 1 FROM kyc_cases AS k
                WHERE k.party = p.party
                  AND (k.status = 'rejected' OR (p_kyc_required AND k.status <> 'approved'))
                  AND k.decided_at = (SELECT max(decided_at) FROM kyc_cases
                                      WHERE party = p.party AND decided_at IS NOT NULL))
           OR (p_kyc_required AND NOT EXISTS (
                SELECT 1 FROM kyc_cases WHERE party = p.party AND decided_at IS NOT NULL))
           OR EXISTS (
                SELECT 1 FROM compliance_alerts AS al
                WHERE al.party = p.party AND al.kind = p_aml_kind AND al.level = 'high'
                  AND al.status = ANY(p_active_alert_statuses))
    ) THEN
        RETURN false;
    END IF;

    -- The balances the legs move, locked in the order every other path locks them; each
    -- payer must cover its leg (app/domain/ledger.py open_transfer).
    needed := CASE WHEN c.type = 'DVP' THEN 4 ELSE 2 END;
    FOR b IN
        SELECT * FROM ledger_balances
        WHERE (account_id, asset) IN ((c.payer, c.asset), (c.payee, c.asset),
                                      (c.payer, c.counter_asset), (c.payee, c.counter_asset))
        ORDER BY account_id, asset
        FOR UPDATE
    LOOP
        locked := locked + 1;
        IF b.no_overdraft AND b.account_id = c.payer AND b.asset = c.asset
           AND b.credits_posted - b.debits_posted - b.debits_pending < c.amount THEN
            RETURN false;
        END IF;
        IF b.no_overdraft AND b.account_id = c.payee AND b.asset = c.counter_asset
           AND b.credits_posted - b.debits_posted - b.debits_pending < c.counter_amount THEN
            RETURN false;
        END IF;
    END LOOP;
    IF locked <> needed THEN
        RETURN false;
    END IF;

    -- Each leg debits its payer and credits its payee; one statement for every balance.
    UPDATE ledger_balances AS l
    SET debits_posted = l.debits_posted + v.debit, credits_posted = l.credits_posted + v.credit,
        updated_at = p_now
    FROM (VALUES (c.payer, c.asset, c.amount, 0::numeric),
                 (c.payee, c.asset, 0::numeric, c.amount),
                 (c.payee, c.counter_asset, c.counter_amount, 0::numeric),
                 (c.payer, c.counter_asset, 0::numeric, c.counter_amount))
         AS v(account_id, asset, debit, credit)
    WHERE l.account_id = v.account_id AND l.asset = v.asset;
    INSERT INTO ledger_transfers (transfer_id, debit_account, credit_account, asset, amount,
                                  status, resolved_at)
    SELECT leg.transfer_id, leg.debit_account, leg.credit_account, leg.asset, leg.amount,
           'posted', p_now
    FROM (VALUES (c.command_id || ':payment', c.payer, c.payee, c.asset, c.amount),
                 (c.command_id || ':delivery', c.payee, c.payer, c.counter_asset,
                  c.counter_amount))
         AS leg(transfer_id, debit_account, credit_account, asset, amount)
    WHERE leg.asset IS NOT NULL;
    UPDATE commands
    SET status = 'settled', validated_at = p_now, settling_at = p_now, settled_at = p_now,
        reason = NULL, reason_detail = NULL, updated_at = p_now
    WHERE command_id = c.command_id;
    INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
    VALUES (p_event_id, p_topic, 'command.settled', c.command_id,
            jsonb_build_object('command_id', c.command_id, 'type', c.type,
                               'workflow_id', c.workflow_id, 'escrow_id', c.escrow_id,
                               'status', 'settled', 'reason', NULL,
                               'occurred_at', p_occurred_at),
            0);
    RETURN true;
END
$fn$
"""


def upgrade() -> None:
    # Straight to the driver: SQLAlchemy's text() would read `:payment` as a bind parameter.
    op.get_bind().exec_driver_sql(SETTLE_IF_CLEAR)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS settle_if_clear(text, timestamptz, boolean, text, text, "
               "text, text, text, text[])")
