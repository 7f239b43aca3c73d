"""What a service imports: events publishers, the model client, and the traffic simulator."""
