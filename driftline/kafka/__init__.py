"""Kafka for every role: client connection settings (:mod:`.clients`) and the local broker's
TLS and SASL set-up (:mod:`.security`). The local broker's Maven and logging files live here too."""
