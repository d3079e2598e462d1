"""kokreativ: reward volunteer work with local tokens.

This package holds only the ``kokreativ`` command and the demo; the work
lives in :mod:`protocol`, :mod:`hardware`, :mod:`terminal`, :mod:`server` and
:mod:`provisioning`.  The version lives in :mod:`protocol.version`, which the
server and the kiosks may import (they may not import this package).
"""

from protocol.version import SOFTWARE_VERSION

__version__ = SOFTWARE_VERSION
