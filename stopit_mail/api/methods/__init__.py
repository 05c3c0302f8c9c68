"""The API's methods, one module per area; importing this package registers them all."""

from stopit_mail.api.methods import cases, casework, mail, views

__all__ = ["cases", "casework", "mail", "views"]
