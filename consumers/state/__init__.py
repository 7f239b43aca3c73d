"""The monitor's state as plain, versioned records (see :mod:`.codec` and :mod:`.records`)."""
