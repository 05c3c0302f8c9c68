"""Method registry and dispatch: one request in, one answer out, errors as codes.

A method is a function `(call, params) -> result` registered under a dotted name with the
parameters it accepts; anything else in `params` is a `bad-request` (strict, like the config).
`dispatch` is the one place that turns exceptions into error answers, so the socket server and
the in-process path answer the same way.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from stopit_mail import events
from stopit_mail.api import API_VERSION
from stopit_mail.api.identity import Caller, actor_for
from stopit_mail.api.methods import load_all
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.db import transaction
from stopit_mail.errors import ConfigError, NotFound, StopitError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from stopit_mail.app import App
    from stopit_mail.models import Case

log = logging.getLogger(__name__)


class ApiError(StopitError):
    """An error answer with a stable code (see docs/api.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Method = Callable[["Call", "Params"], Any]


@dataclass(frozen=True)
class Spec:
    """A registered method: its function and the parameters it accepts."""

    func: Method
    params: frozenset[str]
    doc: str


METHODS: dict[str, Spec] = {}
# The key of an answer that carries bytes after its JSON line (see `Streamed`); never encoded.
BODY = "_body"


@dataclass
class Streamed:
    """A method's result followed by bytes: the answer's JSON line, then `size` raw bytes.

    The answer line says `"stream": {"size", "sha256"}` so the client knows how much follows
    and can check it; the body is a rewound file (a spool in the data folder, never held in
    memory whole) that whoever sends it reads to its end and closes.
    """

    result: Any
    body: IO[bytes]
    size: int
    sha256: str

    def answer(self) -> dict[str, Any]:
        return {"v": API_VERSION, "ok": True, "result": self.result,
                "stream": {"size": self.size, "sha256": self.sha256}, BODY: self.body}


def split_body(answer: dict[str, Any]) -> tuple[dict[str, Any], IO[bytes] | None]:
    """The answer as JSON can carry it, and the bytes to send after it (None: nothing follows)."""
    body = answer.pop(BODY, None)
    return answer, body


def method(name: str, *params: str) -> Callable[[Method], Method]:
    """Register `func` as API method `name` taking `params` (a duplicate name is a bug)."""

    def decorate(func: Method) -> Method:
        if name in METHODS:
            raise RuntimeError(f"API method {name!r} registered twice")
        METHODS[name] = Spec(func, frozenset(params), (func.__doc__ or "").strip().splitlines()[0])
        return func

    return decorate


class Params:
    """The request's parameters, read with types checked (a wrong type is a bad request)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def _get(self, key: str, kinds: tuple[type, ...], default: Any, required: bool) -> Any:
        if key not in self.values or self.values[key] is None:
            if required:
                raise ApiError("bad-request", f"params.{key} is required")
            return default
        value = self.values[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ApiError("bad-request", f"params.{key}: expected {' or '.join(k.__name__ for k in kinds)}")
        return value

    def text(self, key: str, default: str | None = None, required: bool = False) -> Any:
        """A string parameter."""
        return self._get(key, (str,), default, required)

    def integer(self, key: str, default: int | None = None, required: bool = False, low: int = 0,
            high: int = 2**31) -> Any:
        """An integer parameter within [low, high]."""
        value = self._get(key, (int,), default, required)
        if value is not None and not low <= value <= high:
            raise ApiError("bad-request", f"params.{key}: expected {low} to {high}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean parameter."""
        return bool(self._get(key, (bool,), default, False))

    def texts(self, key: str) -> list[str]:
        """A list of strings (empty when absent)."""
        value = self._get(key, (list,), [], False)
        if not all(isinstance(v, str) for v in value):
            raise ApiError("bad-request", f"params.{key}: expected a list of strings")
        return list(value)


@dataclass
class Call:
    """One request being served: the installation, the caller, and (lazily) the acting staff member."""

    app: App
    caller: Caller
    as_name: str | None = None
    _actor: Actor | None = field(default=None, repr=False)

    @property
    def settings(self) -> Any:
        return self.app.settings

    @property
    def actor(self) -> Actor:
        """The staff member acting (resolved on first use: some methods need nobody named)."""
        if self._actor is None:
            self._actor = actor_for(self.app.settings, self.caller, self.as_name)
        return self._actor

    def scope(self) -> Actor | None:
        """The actor, or None (everything) for the service account when nobody is named.

        For listings that must never be one error away (open escalations, queue health): the
        service account may read every table anyway.
        """
        try:
            return self.actor
        except PermissionDenied:
            raise
        except StopitError:
            if self.caller.service:
                return None
            raise

    def admin(self) -> Actor:
        """The actor, who must hold the admin role."""
        self.actor.check_role("admin")
        return self.actor

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction for the call."""
        with transaction(self.app.factory) as session:
            yield session

    @contextmanager
    def case(self, number: str) -> Iterator[tuple[Session, Case, Actor]]:
        """One transaction acting on case `number`, which the actor must be allowed to see."""
        from stopit_mail.cases.queries import get_case

        actor = self.actor
        with transaction(self.app.factory) as session:
            case = get_case(session, number)
            actor.check_case(case)
            yield session, case, actor


def _error(code: str, message: str) -> dict[str, Any]:
    return {"v": API_VERSION, "ok": False, "error": {"code": code, "message": message}}


def _check_request(request: Any) -> tuple[Spec, dict[str, Any], str | None]:
    if not isinstance(request, dict):
        raise ApiError("bad-request", "a request is a JSON object")
    if request.get("v") != API_VERSION:
        raise ApiError("bad-version", f"this service speaks API version {API_VERSION}; found {request.get('v')!r}")
    unknown = set(request) - {"v", "method", "params", "as"}
    if unknown:
        raise ApiError("bad-request", f"unknown request keys: {', '.join(sorted(unknown))}")
    spec = METHODS.get(str(request.get("method")))
    if spec is None:
        raise ApiError("unknown-method", f"no method {request.get('method')!r} (see docs/api.md)")
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise ApiError("bad-request", "params must be a JSON object")
    extra = set(params) - spec.params
    if extra:
        raise ApiError("bad-request", f"{request['method']} takes no {', '.join(sorted(extra))} "
                                      f"(accepts: {', '.join(sorted(spec.params)) or 'nothing'})")
    as_name = request.get("as")
    if as_name is not None and not isinstance(as_name, str):
        raise ApiError("bad-request", "as must be a string")
    return spec, params, as_name


def dispatch(app: App, caller: Caller, request: Any, reraise: bool = False) -> dict[str, Any]:
    """Answer one request as `caller`; every event it records carries the caller's Unix account.

    `reraise`: let unexpected exceptions through (the in-process path, so a bug shows its
    traceback); the socket server answers them as `internal` and logs them instead.
    """
    _load(request.get("method") if isinstance(request, dict) else None)
    token = events.UNIX_USER.set(caller.user)
    try:
        spec, params, as_name = _check_request(request)
        result = spec.func(Call(app, caller, as_name), Params(params))
        if isinstance(result, Streamed):
            return result.answer()
        return {"v": API_VERSION, "ok": True, "result": result}
    except ApiError as exc:
        return _error(exc.code, str(exc))
    except PermissionDenied as exc:
        return _error("forbidden", str(exc))
    except NotFound as exc:
        return _error("not-found", str(exc))
    except ConfigError as exc:
        return _error("config", str(exc))
    except StopitError as exc:
        return _error("failed", str(exc))
    except Exception as exc:
        if reraise:
            raise
        log.exception("API method failed")
        return _error("internal", f"internal error ({type(exc).__name__}); the service log has the details")
    finally:
        events.UNIX_USER.reset(token)


# Which modules of api.methods hold the methods of each prefix: a command pays for importing
# only the services it calls (a staff command should start in well under 300 ms).
_HOMES = {"cases": ("cases", "casework", "mail", "extra", "export"), "notice": ("mail",), "refer": ("mail",),
          "reply": ("mail",), "reveal": ("mail",), "ack": ("mail",), "escalations": ("mail", "views"),
          "abuse": ("extra",), "triage": ("extra",), "quarantine": ("views", "extra")}


def _load(name: object) -> None:
    if isinstance(name, str) and name in METHODS:
        return
    prefix = name.split(".")[0] if isinstance(name, str) else ""
    for module in _HOMES.get(prefix, ("views",)):
        importlib.import_module(f"stopit_mail.api.methods.{module}")
    if not isinstance(name, str) or name not in METHODS:
        load_all()  # to be sure an unknown method is unknown


def method_names() -> list[str]:
    """Every registered method name, sorted (for `stopit api methods` and the docs test)."""
    load_all()
    return sorted(METHODS)
