"""Typed settings loaded from one `stopit.toml`, validated at start-up.

Every mistake (unknown key, wrong type, bad value) is collected into one `ConfigError` naming
the key, what was found and what was expected, so an operator fixes the file in one pass.
"""

from stopit_mail.config.casework import (
    CaseworkSettings,
    ChainStep,
    EscalationSettings,
    Office,
    StaffMember,
)
from stopit_mail.config.checks import split_host_port
from stopit_mail.config.loader import iter_documented_keys, load_settings, settings_from_dict
from stopit_mail.config.schema import (
    CONFIG_FILENAME,
    HeaderSettings,
    Limits,
    Organisation,
    OutboundSettings,
    ServerSettings,
    Settings,
)

__all__ = [
    "CONFIG_FILENAME", "CaseworkSettings", "ChainStep", "EscalationSettings", "HeaderSettings", "Limits",
    "Office", "Organisation", "OutboundSettings", "ServerSettings", "Settings", "StaffMember",
    "iter_documented_keys", "load_settings", "settings_from_dict", "split_host_port",
]
