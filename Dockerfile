# The churn service: the standard-library app under gunicorn, serving the JSON model.
# No scikit-learn, numpy or scipy: the image holds Python, gunicorn and a few files.
#   docker build -t churn-service .
#   docker run --rm -p 9696:9696 churn-service
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir --require-hashes -r requirements.txt \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin churn

COPY app.py wsgi.py serve.py gunicorn.conf.py ./
# Serving code only: churn/training (data, fitting, model card; scikit-learn) stays out.
COPY churn/__init__.py churn/
COPY churn/core/ churn/core/
COPY churn/http/ churn/http/
COPY churn/server/ churn/server/
COPY static/ static/
# The model, and its card with the charts, which the page links to.
COPY model/churn-model.json model/MODEL_CARD.md model/*.svg model/

# By number: Kubernetes can check runAsNonRoot only against a numeric user.
USER 10001:10001
EXPOSE 9696
# Slim images have no curl: ask /ping with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('PORT', '9696'), timeout=4)"
# serve.py checks the settings (one line for a bad one), then runs gunicorn in its own process, PID 1:
# SIGTERM stops it gracefully. Settings come from gunicorn.conf.py (PORT, WEB_CONCURRENCY); options
# given to `docker run IMAGE …` go to gunicorn.
ENTRYPOINT ["python", "serve.py"]
