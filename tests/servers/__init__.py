"""Real loopback servers (mosquitto, VictoriaMetrics, Home Assistant) for integration tests."""
