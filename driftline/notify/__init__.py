"""``driftline notify``: alerts from the alerts topic, delivered to Alertmanager, webhooks and Slack."""
