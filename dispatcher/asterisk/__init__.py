"""The Asterisk side of a deployment: configuration rendered from ``asterisk-conf/templates``.

- :mod:`~dispatcher.asterisk.settings` reads and validates the environment (both trunk modes);
- :mod:`~dispatcher.asterisk.render` fills the templates and writes ``/etc/asterisk`` files;
- :mod:`~dispatcher.asterisk.remote` prints what the carrier's server needs (PJSIP, chan_sip);
- :mod:`~dispatcher.asterisk.confparse` parses Asterisk config files, to check what we render;
- :mod:`~dispatcher.asterisk.cli` is ``dispatcher asterisk render|remote-config|cdr-table``.
"""

from dispatcher.asterisk.values import ConfError

__all__ = ["ConfError"]
