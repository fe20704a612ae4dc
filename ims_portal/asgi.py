"""The web app as ASGI, as the web server runs it (gunicorn with uvicorn workers: Procfile).

ASGI lets an export page hold its live stream (exports/views_push.py) without holding a
thread. Its database connections come from a pool (settings: DATABASE_POOL), as ASGI runs
each request's code in a thread of its own, where persistent connections would pile up.
"""

import os

from django.core.asgi import get_asgi_application

from ims_portal.startup import log_services

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")
os.environ.setdefault("DATABASE_POOL", "true")
application = get_asgi_application()
log_services("web")
