"""kokreativ: reward volunteer work with local tokens.

This package holds only the version and the ``kokreativ`` command; the work
lives in :mod:`protocol`, :mod:`hardware`, :mod:`terminal`, :mod:`server` and
:mod:`provisioning`.
"""

__version__ = "0.1.0"
