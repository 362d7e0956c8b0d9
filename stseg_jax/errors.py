"""The errors a user sees as one line instead of a traceback (cli.py).

  ConfigError  a config value that cannot work; the message names the key
  DataError    a data file whose content cannot be used (corrupt, bad values,
               sizes differ); the message names the file. The entry points
               print it after saving what training finished.

Both are ValueErrors. A leaf module: anything may raise them.
"""


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key."""


class DataError(ValueError):
  """An image, label, record or manifest that is unreadable or inconsistent."""
