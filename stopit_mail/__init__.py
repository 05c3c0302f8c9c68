"""stopit-mail: a self-hosted harassment-reporting mailbox.

Forwarded complaints arrive by SMTP/LMTP or file import, are stored byte for byte before
anything else happens, and flow one way: ingest -> extract -> headers -> cases -> outbound.
"""

__version__ = "0.1.0"
