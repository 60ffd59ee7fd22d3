"""Interface health and metrics: how each connector is doing, for people and for Prometheus."""
