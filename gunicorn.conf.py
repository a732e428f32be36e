"""Gunicorn settings, read automatically by `gunicorn wsgi:app` from the working directory.

Binds 0.0.0.0:$PORT when PORT is set (Heroku, Elastic Beanstalk), else 0.0.0.0:9696, the book's
port. Workers: $WEB_CONCURRENCY, else one per CPU core. Command-line options override these.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '9696')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
