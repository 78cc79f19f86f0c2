"""Dead letters (list, raw body, replay) and batches (progress, cancel): admin pages over the
same services, and the same rules, as /v1/admin and /v1/batches."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.domain.errors import DomainError
from app.messaging.inbound import Undecodable
from app.persistence.db import unit_of_work
from app.services import batches, dead_letters
from tasks.senders import send_replay
from web.console import bp
from web.console.auth import requires
from web.console.forms import arg_text

ADMIN = "admin"


@bp.route("/dead-letters", endpoint="dead_letters")
@requires(ADMIN)
def dead_letters_page() -> str:
    pending = request.args.get("pending", "true") == "true"
    with unit_of_work() as session:
        letters = dead_letters.recent(session, limit=100, reason=arg_text("reason"),
                                      pending_only=pending)
    return render_template("console/dead_letters.html", letters=letters, pending=pending)


@bp.route("/dead-letters/<letter_id>")
@requires(ADMIN)
def dead_letter(letter_id: str) -> str:
    with unit_of_work() as session:
        view = dead_letters.describe(dead_letters.get(session, letter_id), with_data=True)
    return render_template("console/dead_letter.html", letter=view)


@bp.route("/dead-letters/<letter_id>/replay", methods=["POST"])
@requires(ADMIN)
def replay_dead_letter(letter_id: str) -> Response:
    # Browsers send a textarea's line breaks as CRLF; the stored bodies use LF.
    corrected = request.form.get("body")
    edited = corrected.replace("\r\n", "\n").encode() if corrected is not None else None
    try:
        with unit_of_work() as session:
            stored = dead_letters.get(session, letter_id).data
            # An unchanged body replays the stored bytes as they are (they may not be UTF-8).
            data = None if edited is None or edited == stored else edited
            routed = dead_letters.replay(
                session, letter_id, data=data,
                resend_after=current_app.config["SETTINGS"].inbox_resend_after)
    except Undecodable as exc:
        flash(f"Still not acceptable ({exc.reason}): {exc.detail}", "error")
        return redirect(url_for("console.dead_letter", letter_id=letter_id))
    try:
        send_replay(routed)
    except Exception:  # stored as replayed; the same after-commit rule as the admin API
        current_app.logger.exception("replay send failed after commit")
        flash("Replay recorded, but sending it failed; see the API's log.", "error")
    else:
        flash(f"Replayed as task {routed.task_id}.", "ok")
    return redirect(url_for("console.dead_letter", letter_id=letter_id))


@bp.route("/batches", endpoint="batches")
@requires(ADMIN)
def batches_page() -> str:
    with unit_of_work() as session:
        views = batches.list_batches(session, kind=arg_text("kind"), status=arg_text("status"),
                                     limit=100)
    running = any(not v.finished for v in views)
    return render_template("console/batches.html", batches=views, running=running,
                           kinds=batches.KINDS, statuses=batches.STATUSES)


@bp.route("/batches/<batch_id>/cancel", methods=["POST"])
@requires(ADMIN)
def cancel_batch(batch_id: str) -> Response:
    try:
        with unit_of_work() as session:
            view = batches.cancel_batch(session, batch_id, datetime.now(UTC))
    except DomainError as exc:
        flash(f"Not cancelled: {exc.message}", "error")
    else:
        flash(f"Batch {view.id} cancelled.", "ok")
    return redirect(url_for("console.batches"))
