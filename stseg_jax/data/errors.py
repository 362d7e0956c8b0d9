"""DataError: a data file whose content cannot be used (corrupt, bad values, sizes differ).

Its message names the file. It is a ValueError, and the entry points print it
as one line instead of a traceback, after saving what training finished.
"""


class DataError(ValueError):
  """An image, label, record or manifest that is unreadable or inconsistent."""
