"""The Flask-SQLAlchemy handle every domain's models and services share (``db.session``,
``db.engine``), over the one declarative base (app.platform.models.Base)."""
from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy

from app.platform.models import Base

db = SQLAlchemy(model_class=Base)
