"""The ``PDFQUEUE_*`` configuration namespace, read in one place.

Every setting is a field of :class:`Settings`. Its value comes from the ``app.config``
key of the same name (a typed value, or a string as the environment would give it),
else the default in :mod:`.settings` (the development profile's), which ``set_defaults`` puts
into ``app.config``. The extension never reads the environment itself: the stand-alone
service (``service.create_app``) copies ``PDFQUEUE_*`` variables into ``app.config``
after the profile file, and an app that embeds the extension decides for itself.
Profiles in the repository's ``config/`` folder set what differs between development,
staging and production.
"""

from __future__ import annotations

from .settings import ConfigError, Settings, from_environ

__all__ = ["ConfigError", "Settings", "from_environ"]
