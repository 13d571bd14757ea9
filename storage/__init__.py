"""The customer store: typed SQLAlchemy 2 models, migrations, engine and unit of work."""
