"""Observability: Prometheus metrics, the watchdog's own alerts, their delivery (Alertmanager, webhook), Grafana
annotations and structured logs. It reads the engine through narrow views; nothing here decides."""
