"""I/O layer: data folders (``profiles``), the IEEE LV import, atomic writes, results folders, shipped files."""
