"""The only package of `app` that imports SQLAlchemy."""
