# The service image: the API (`python -m api`) and the worker (`python worker.py`) share it.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir .
RUN useradd --create-home converge && mkdir -p /data/recordings && chown converge /data/recordings
USER converge
EXPOSE 8000
CMD ["python", "-m", "api"]
