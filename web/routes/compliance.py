"""/v1/compliance routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compliance", __name__)
