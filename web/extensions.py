"""Extension objects, created unbound here and bound to the app in the factory."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from shared.models import Base
from web.jwt_manager import SingleDecodeJWTManager

# Objects stay usable after commit (as in shared.db's sessions): a view that answers with the row it
# just committed would otherwise reload it, one more round trip on every write.
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
migrate = Migrate()
jwt = SingleDecodeJWTManager()
csrf = CSRFProtect()
