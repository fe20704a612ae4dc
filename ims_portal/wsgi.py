"""The web process's entry point (gunicorn, and `manage.py runserver`)."""

import os

from django.core.wsgi import get_wsgi_application

from ims_portal.startup import log_services

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")
application = get_wsgi_application()
log_services("web")
