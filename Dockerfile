FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY openem ./openem
COPY repository ./repository
COPY metadata ./metadata
COPY ingest ./ingest
COPY deposition ./deposition
RUN pip install --no-cache-dir .
COPY . .
EXPOSE 8000
CMD ["gunicorn", "openem.wsgi:application", "--bind", "0.0.0.0:8000"]
