"""Data: the labeled window read back from Kafka, and the training frame made of it."""
