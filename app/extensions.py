"""Flask extensions the factory registers: the database handle (app.platform.db) and Alembic
migrations. Importing this module loads every domain's tables, so that ``Base.metadata`` (Alembic,
the start-up checks, the tests' schema comparison) is the whole schema."""
from __future__ import annotations

from flask_migrate import Migrate

from app.card import models as card_models  # noqa: F401
from app.catalogue import models as catalogue_models  # noqa: F401
from app.hub import models as hub_models  # noqa: F401
from app.identity import models as identity_models  # noqa: F401
from app.money import models as money_models  # noqa: F401
from app.oidc import models as oidc_models  # noqa: F401
from app.outbox import models as outbox_models  # noqa: F401
from app.partners import models as partners_models  # noqa: F401
from app.platform.db import db  # noqa: F401 (create_app registers it beside migrate)
from app.scanning import models as scanning_models  # noqa: F401
from app.service_desk import models as service_desk_models  # noqa: F401

migrate = Migrate()
