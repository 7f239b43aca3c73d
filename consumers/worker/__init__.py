"""The monitor worker on Kafka: consumer group, batched outputs, state topic (see :mod:`.loop`)."""
