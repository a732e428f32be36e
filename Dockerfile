# The churn service: standard-library app + gunicorn, no scikit-learn in the image.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt

COPY app.py wsgi.py gunicorn.conf.py ./
COPY churn/ churn/
COPY model/churn-model.json model/

EXPOSE 9696
ENTRYPOINT ["gunicorn"]
CMD ["wsgi:app"]
