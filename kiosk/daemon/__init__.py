"""The long-running service: systemd notification, watchdog, logging, signals."""
