"""Day layer: one interval (``interval``), a whole day (``matching`` then ``run``), its files (``outputs``)."""
