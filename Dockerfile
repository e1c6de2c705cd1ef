# The portal's image: web (gunicorn), Celery worker and beat all run from it (docker-compose.yml).
# Front-end libraries are built from the npm lock file in their own stage; nothing at run time
# comes from a CDN.
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY static ./static
RUN npm run build

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
    && python -m openem.assets
COPY --from=assets /app/static/vendor ./static/vendor
EXPOSE 8000
CMD ["gunicorn", "openem.wsgi:application", "--bind", "0.0.0.0:8000"]
