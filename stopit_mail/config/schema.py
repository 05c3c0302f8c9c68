"""The configuration schema: one dataclass per section, each field with its default and doc.

The loader (`loader.py`) validates a TOML document against these classes, and the docs test
checks that every field appears, commented, in `default_config.toml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from stopit_mail.config.api import ApiSettings
from stopit_mail.config.casework import CaseworkSettings, EscalationSettings, Office, StaffMember
from stopit_mail.config.fields import doc
from stopit_mail.config.policy import RetentionSettings
from stopit_mail.config.web import WebSettings

CONFIG_FILENAME = "stopit.toml"


@dataclass
class Organisation:
    """One organisation served by this installation (a school, a campus, a company)."""

    slug: str = doc("Short identifier used in commands and statistics, e.g. 'north-high'.")
    name: str = doc("Name shown in notices, e.g. 'Example University'.")
    mailboxes: list[str] = doc("Reporting addresses this organisation owns.", factory=list)
    case_prefix: str = doc("Prefix of human case numbers (SI-2026-0042).", "SI")
    anonymous_by_default: bool = doc("Treat every reporter as anonymous unless they say otherwise.", False)
    emergency_numbers: list[str] = doc(
        "Emergency numbers quoted in acknowledgements.", factory=lambda: ["911"]
    )
    templates_dir: str = doc("Folder of template overrides (relative to the config file).", "")
    offices: list[Office] = doc("Offices that take referrals ([[organisations.offices]]).", factory=list)
    escalation: EscalationSettings = doc("Emergency escalation chains.", factory=EscalationSettings)
    reveal_approval: bool = doc("A reveal needs a second staff member's approval (role 'approver').", False)
    reveal_approval_minutes: int = doc("How long an approved reveal may be used by its requester.", 60)
    retention: RetentionSettings = doc("When case content is purged ([organisations.retention]).",
                                       factory=RetentionSettings)
    web_access_code: str = doc("Code that opens this organisation's web report page (/r/CODE); empty: none.", "")
    web_listed: bool = doc("List this organisation on the web door's front page (no code needed).", False)


@dataclass
class Limits:
    """Hard limits that protect the service from hostile or broken input."""

    max_message_bytes: int = doc("Largest message accepted (SMTP SIZE, 552 above it).", 100 * 1024 * 1024)
    max_nesting_depth: int = doc("Deepest MIME / attached-message nesting that is examined.", 20)
    max_parts: int = doc("Most MIME parts examined in one message.", 2000)
    max_header_bytes: int = doc("Largest header section read before a message is set aside unparsed.",
                                1024 * 1024)
    max_lines: int = doc("Most lines a message may have before it is set aside unparsed.", 2_000_000)
    processing_seconds: float = doc("Time budget of processing one message before it is abandoned.", 60.0)
    max_attempts: int = doc("Processing attempts (a crash counts) before a message is quarantined.", 3)
    worker_memory_mb: int = doc("Address-space cap of the worker process that `serve` starts.", 4096)


@dataclass
class HeaderSettings:
    """How Received chains and authentication results are judged."""

    trusted_relays: list[str] = doc(
        "CIDRs and host names of relays whose Received lines are facts (our MTAs, chosen providers).",
        factory=list,
    )
    trusted_authserv_ids: list[str] = doc(
        "authserv-ids of Authentication-Results headers we trust (our own MTAs).", factory=list
    )
    clock_skew_seconds: int = doc("Allowed clock difference between hops before it is an anomaly.", 300)
    dns: str = doc("'online' to look up DKIM keys, 'offline' to record temperror instead.", "online")
    dns_timeout_seconds: float = doc("Lifetime of one DNS lookup.", 3.0)
    abuse_desks: list[str] = doc(
        "Abuse desks beyond the shipped provider data: 'KEY=address', KEY a provider key ('google'), "
        "a network ('192.0.2.0/24') or a domain ('.example.net'); checked before the shipped data.",
        factory=list,
    )


@dataclass
class ServerSettings:
    """The SMTP/LMTP listener of `stopit serve`."""

    listen: str = doc("host:port to listen on; keep it on loopback behind an MTA.", "127.0.0.1:8025")
    protocol: str = doc("'smtp', or 'lmtp' when Postfix or Exim delivers to us.", "smtp")
    hostname: str = doc("Name announced in the greeting (empty: the machine's name).", "")
    max_connections_per_peer: int = doc("Simultaneous connections from one address (421 above).", 20)
    max_messages_per_peer_per_minute: int = doc("Messages from one address per minute (451 above).", 120)
    unlimited_peers: list[str] = doc("CIDRs exempt from the per-peer limits: the MTA in front of us.", factory=list)
    tls_certificate: str = doc("PEM certificate for STARTTLS (empty: no STARTTLS).", "")
    tls_key: str = doc("PEM private key for STARTTLS.", "")
    run_worker: bool = doc("Run the processing worker inside `stopit serve`.", True)
    worker_nice: int = doc("Niceness (0-19) of the worker child of `serve`, so accepting mail wins the CPU; 0: off.",
                           5)
    flood_nice: int = doc("Niceness (0-19) of the worker's thread computing ordinary messages while the listener is "
                          "flooded (claims, writes and emergencies keep the worker's own); 0: off.", 19)
    pace_separate_worker: bool = doc("A separate `stopit worker` keeps to a small share of one core while the "
                                     "listener is flooded; false only for a worker on another host.", True)


@dataclass
class OutboundSettings:
    """How stopit sends mail: through a relay, or into a local Maildir when none is set."""

    relay: str = doc("host:port of the SMTP relay (empty: write to the outbox Maildir).", "")
    starttls: bool = doc("Use STARTTLS with the relay.", True)
    username: str = doc("Relay AUTH user (empty: no AUTH).", "")
    password_env: str = doc("Environment variable holding the relay password.", "STOPIT_RELAY_PASSWORD")
    maildir: str = doc("Outbox Maildir (relative to data_dir) used when no relay is set.", "outbox")
    max_attempts: int = doc("Delivery attempts before a message is given up as failed.", 12)
    retry_base_seconds: int = doc("First retry delay; each later one doubles (capped at 6 h).", 60)
    acks_per_sender_per_hour: int = doc("Most acknowledgements one address receives per hour.", 5)
    acks_per_domain_per_hour: int = doc("Most acknowledgements per hour to one domain for reports that forward nothing.", 20)
    acks_per_case_per_hour: int = doc("Most acknowledgements sent on one case per hour (emergencies exempt).", 50)


@dataclass
class Settings:
    """The whole configuration. `base_dir` is the folder holding stopit.toml."""

    data_dir: str = doc("Folder for the database, outbox Maildir and caches (relative to the config).", ".")
    database_url: str = doc("SQLAlchemy URL; empty means SQLite at <data_dir>/stopit.db.", "")
    staff_name: str = doc("Acting staff member for commands the service account runs itself (override with --as).", "")
    organisations: list[Organisation] = doc("Organisations served.", factory=list)
    limits: Limits = doc("Input limits.", factory=Limits)
    headers: HeaderSettings = doc("Header forensics.", factory=HeaderSettings)
    server: ServerSettings = doc("The mailbox server.", factory=ServerSettings)
    staff: list[StaffMember] = doc("Staff members and their roles ([[staff]]).", factory=list)
    casework: CaseworkSettings = doc("Casework rules.", factory=CaseworkSettings)
    outbound: OutboundSettings = doc("Outgoing mail.", factory=OutboundSettings)
    web: WebSettings = doc("The web reporting door.", factory=WebSettings)
    api: ApiSettings = doc("The local staff API socket.", factory=ApiSettings)
    base_dir: Path = field(default=Path("."), metadata={"internal": True})

    @property
    def data_path(self) -> Path:
        """Absolute data folder."""
        fixed = _fixed_data_path(self.base_dir, self.data_dir)
        # A relative base depends on the working directory: resolved each time.
        return fixed if fixed is not None else (self.base_dir / self.data_dir).resolve()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data folder."""
        return self.database_url or f"sqlite:///{self.data_path / 'stopit.db'}"

    def all_mailboxes(self) -> list[str]:
        """Every reporting address of every organisation, lower-cased."""
        return [m.lower() for org in self.organisations for m in org.mailboxes]

    def organisation_for(self, address: str) -> Organisation | None:
        """The organisation owning a mailbox or one of its `local+code@domain` aliases."""
        local, _, domain = address.lower().partition("@")
        base_local = local.split("+", 1)[0]
        for org in self.organisations:
            for mailbox in org.mailboxes:
                m_local, _, m_domain = mailbox.lower().partition("@")
                if m_domain == domain and m_local == base_local:
                    return org
        return None

    def organisation(self, slug: str) -> Organisation | None:
        """The organisation with this slug."""
        return next((org for org in self.organisations if org.slug == slug), None)

    def staff_member(self, name: str) -> StaffMember | None:
        """The configured staff member with this name (case-insensitive)."""
        return next((s for s in self.staff if s.name.lower() == name.lower()), None)

    def default_organisation(self) -> Organisation:
        """The first organisation: where mail to no known address is filed."""
        return self.organisations[0]


@lru_cache(maxsize=64)
def _fixed_data_path(base_dir: Path, data_dir: str) -> Path | None:
    """The data folder once per process when it does not depend on the working directory (None
    when it does): every message reaches it several times, resolving walks the file system, and
    even building the path anew cost more than the key file's stat that follows it."""
    path = Path(data_dir)
    if path.is_absolute():
        return path
    return (base_dir / path).resolve() if base_dir.is_absolute() else None
