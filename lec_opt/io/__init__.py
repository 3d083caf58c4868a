"""I/O layer: data folders (``profiles``), the IEEE LV import, atomic writes, results folders (their
manifest's ``provenance``, the resolved scenario they carry: ``scenario_copy``), shipped files."""
