# GivTCP in a container, as the v1.0 image: the REST API on port 6345, an optional self-run loop
# (read.py runAll every SELF_RUN_LOOP_TIMER seconds) and an optional local MQTT broker.
#   docker build -t givtcp .
#   docker run -d --name givtcp -p 6345:6345 -e INVERTOR_IP=192.168.1.50 givtcp
# Settings are environment variables with the names of settings_template.py's [brackets];
# docker/entrypoint.sh explains the start-up (discovery when INVERTOR_IP is empty).
FROM python:3.11-slim

# mosquitto: the local broker started when MQTT_ADDRESS is 127.0.0.1 or localhost.
# tzdata: TZ=Europe/London etc., so local times match the inverter's clock.
RUN apt-get update \
    && apt-get install -y --no-install-recommends mosquitto tzdata \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Requirements first: code changes then reuse the installed-packages layer.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# The application; .dockerignore leaves out tests, tooling and any local settings.py.
COPY . .

# Logs and the self-run JSON reach `docker logs` at once; the state goes to the /app/.state
# volume, also for a `docker exec ... read.py`.
ENV PYTHONUNBUFFERED=1 \
    SELF_RUN=True \
    SELF_RUN_LOOP_TIMER=30 \
    STATE_LOCATION=/app/.state

EXPOSE 6345 1883
ENTRYPOINT ["bash", "/app/docker/entrypoint.sh"]
