"""The WSGI entry point for gunicorn: settings from the environment, built once per worker."""
from mapserver import create_app

app = create_app()
