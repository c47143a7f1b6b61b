# One image for web, worker and beat; the compose file chooses the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Point this at a CPU-only PyTorch wheel index to keep the image small (the default index ships CUDA builds).
ARG PIP_EXTRA_INDEX_URL=""
RUN apt-get update && apt-get install -y --no-install-recommends libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home ferlab && mkdir -p /app/var && chown -R ferlab /app/var
USER ferlab
RUN DJANGO_SECRET_KEY=collectstatic-only-$(python -c "print('x'*60)") DJANGO_SETTINGS_MODULE=server.settings.production \
    python manage.py collectstatic --noinput
EXPOSE 8000
