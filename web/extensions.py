"""Extension objects, created unbound here and bound to the app in the factory."""

from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from shared.models import Base

db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()
jwt = JWTManager()
csrf = CSRFProtect()
