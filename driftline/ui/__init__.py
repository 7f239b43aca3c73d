"""``driftline ui``: a read-only dashboard in the browser over the topics and the registry.

:mod:`~driftline.ui.series` builds the charts' series from topic records (pure),
:mod:`~driftline.ui.feed` follows the topics, :mod:`~driftline.ui.lineage` reads
the registry, :mod:`~driftline.ui.access` decides who may read, and
:mod:`~driftline.ui.server` serves ``page.html`` and its JSON.
"""
