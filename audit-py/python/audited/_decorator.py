"""``@audited`` for Python handlers, and the global logger it logs through.

The Python counterpart of the Rust ``#[audited]`` attribute, with the same rules:

- the action name is checked when the decorator is applied (at import), against the
  runtime's built-in catalog (the one the Rust attribute checks) plus the names given to
  :func:`register_actions`; a typo raises :class:`UnknownActionError` with the closest name;
- ``details=`` is called with the call's arguments before the body runs, and its value
  converted to JSON then (so the body may change or consume what it names);
- ``capture=`` is called with the arguments before and after the body; its values are
  recorded as ``details.before`` and ``details.after`` (converted to JSON when taken, so a
  dict the body changes in place is recorded as it was), and when both are dicts
  ``details.changed`` lists the keys whose values differ, each as ``{"before", "after"}``;
- the call is ``success`` when it returns and ``failed`` when it raises, with the
  exception's message as ``error`` (``cancelled`` for a cancelled coroutine); the exception
  is then re-raised unchanged. An exception raised by ``details=`` or ``capture=`` itself is
  logged as the call's failure and raised too, as a panic there is in Rust;
- ``redact=`` names detail keys whose values are written as ``"[REDACTED]"`` at any depth
  (``#[audited(redact(..))]``), or, as a dict, ``{"key": "hmac"}`` for the log's keyed hash
  (``redact(key, hmac)``: ``"hmac-sha256:<hex>"`` with the log's key file, so an auditor can
  still find every event about one value); the logger's default list of secret keys
  applies as well;
- logging failures never reach the caller: they are counted by the logger and reported to
  the ``audited`` logger of ``logging``; except with ``fail_closed=True``
  (``#[audited(fail_closed)]``): while the installed logger's log cannot take events (its
  directory gone or replaced, or, after a failed write, unwritable or full), the call is
  refused **before its body runs** (and before ``details=`` and ``capture=`` are called)
  with :class:`AuditUnavailableError` (``ran`` false), counted in the logger's
  ``stats()["events_refused"]``; and a call whose body ran but whose event could not be
  written raises :class:`AuditUnavailableError` (``ran`` true) instead of returning its
  result (the body's own exception, if it raised, is its ``__context__``). Before
  :func:`init` there is no log to check and the call goes ahead;
- with the installed logger's format ``none``, a call costs one check and the callables are
  not called.
"""

import functools
import inspect
import logging
import threading
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, TypeVar, Union

from . import _native

F = TypeVar("F", bound=Callable[..., Any])

AuditUnavailableError = _native.AuditUnavailableError

_log = logging.getLogger("audited")
_registered: Tuple[str, ...] = ()
_registry_lock = threading.Lock()
_builtin = frozenset(_native.BUILTIN_ACTIONS)


class UnknownActionError(ValueError):
    """An action name that is neither built in nor registered, raised by ``@audited``."""


def known_actions() -> Tuple[str, ...]:
    """The names ``@audited`` accepts: the built-in catalog, then the registered names."""
    return tuple(_native.BUILTIN_ACTIONS) + _registered


def register_actions(names: Iterable[str]) -> None:
    """Adds a project's own action names, for ``@audited`` applied after this call.

    A name must be a non-empty string without surrounding spaces. Registering a built-in or
    an already registered name does nothing.
    """
    global _registered
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"an action name must be a str, not {type(name).__name__}")
        if not name or name != name.strip():
            raise ValueError(f"invalid action name {name!r}: empty or with surrounding spaces")
    with _registry_lock:
        new = [n for n in dict.fromkeys(names) if n not in _builtin and n not in _registered]
        _registered = _registered + tuple(new)


def _check_action(action: Any) -> str:
    if not isinstance(action, str):
        raise TypeError(f"action must be a str, not {type(action).__name__}")
    if action in _builtin or action in _registered:
        return action
    known = known_actions()
    suggestion = _native.suggest_action(action, list(known))
    hint = f'; did you mean "{suggestion}"?' if suggestion else ""
    raise UnknownActionError(
        f'unknown audit action "{action}"{hint}\n'
        f"known actions: {', '.join(known)}\n"
        f'for an action of your own, call audited.register_actions(["{action}"]) before '
        f"the decorator is applied"
    )


def init(logger: "_native.Logger") -> None:
    """Installs ``logger`` (an :class:`~audited.AuditLogger`) as the global logger that
    ``@audited`` functions log through, and writes the calls made before it (up to 1,024 are
    kept). A second call raises ``RuntimeError``: use :func:`switch_experiment`."""
    _native.init(logger)


def switch_experiment(logger: "_native.Logger") -> None:
    """Replaces the global logger (a new experiment), making everything the old one wrote
    durable first."""
    _native.switch_experiment(logger)


def shutdown() -> None:
    """Removes the global logger after making its events durable; calls made afterwards are
    kept for the next :func:`init`."""
    _native.shutdown()


def is_active() -> bool:
    """Whether a decorated call made now would be recorded: false once the installed
    logger's format is ``none``; true before :func:`init` (calls are kept for it)."""
    return _native.is_active()


def _error_of(exc: BaseException) -> str:
    if _is_cancelled(exc):
        return "cancelled"
    return str(exc) or type(exc).__name__


def _is_cancelled(exc: BaseException) -> bool:
    # Only when asyncio is in use; importing it for every failure would cost a sync handler.
    import sys

    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _audit_failure(what: str, exc: BaseException) -> str:
    return f"audited: {what} raised {type(exc).__name__}: {exc}"


def _redaction(redact: Any) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """``redact=`` as the keys written ``"[REDACTED]"`` and the keys hashed."""
    if redact is None:
        return (), ()
    if isinstance(redact, str):
        redact = [redact]
    if isinstance(redact, dict):
        items = list(redact.items())
    else:
        try:
            items = [(key, "redact") for key in redact]
        except TypeError:
            raise TypeError(
                "redact= takes detail keys (a list of str), or a dict of key to "
                '"redact" or "hmac"'
            ) from None
    plain, hashed = [], []
    for key, how in items:
        if not isinstance(key, str) or not key:
            raise TypeError(f"a redacted key must be a non-empty str, not {key!r}")
        if how not in ("redact", "hmac"):
            raise ValueError(
                f'redact={{{key!r}: {how!r}}}: the value is "redact" (written "[REDACTED]") '
                f'or "hmac" (written as the keyed hash)'
            )
        if key in plain or key in hashed:
            raise ValueError(f"the redacted key {key!r} is given twice")
        (hashed if how == "hmac" else plain).append(key)
    return tuple(plain), tuple(hashed)


def audited(
    action: str,
    *,
    details: Optional[Callable[..., Any]] = None,
    capture: Optional[Callable[..., Any]] = None,
    redact: Union[Iterable[str], Dict[str, str], None] = None,
    fail_closed: bool = False,
) -> Callable[[F], F]:
    """Logs one event per call of the decorated function or method (sync or ``async def``).

    ``action`` is the event's ``action_type``, checked now against :func:`known_actions`.
    ``details`` and ``capture`` are callables taking the function's arguments (``self``
    included for a method); in an ``async def`` they may also be coroutine functions.
    ``redact`` lists detail keys to write as ``"[REDACTED]"``, or maps keys to ``"redact"``
    or ``"hmac"`` (the keyed hash); ``fail_closed`` refuses the call with
    :class:`AuditUnavailableError` while the log cannot take events (see the module docs).

    >>> @audited(action="hp_change", capture=lambda trainer, lr: dict(trainer.hp))
    ... def set_learning_rate(trainer, lr): ...
    """
    name = _check_action(action)
    for what, value in (("details", details), ("capture", capture)):
        if value is not None and not callable(value):
            raise TypeError(f"{what}= must be a callable of the function's arguments")
    if not isinstance(fail_closed, bool):
        raise TypeError(f"fail_closed= must be a bool, not {type(fail_closed).__name__}")
    policy = _Policy(*_redaction(redact), fail_closed)

    def decorate(fn: F) -> F:
        if isinstance(fn, (staticmethod, classmethod)):
            return type(fn)(decorate(fn.__func__))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@audited cannot wrap the generator function {fn.__qualname__}: its call "
                f"returns before any of its body runs"
            )
        if not callable(fn):
            raise TypeError(f"@audited decorates a function, not {type(fn).__name__}")
        if inspect.iscoroutinefunction(fn):
            wrapper = _wrap_async(fn, name, details, capture, policy)
        else:
            wrapper = _wrap_sync(fn, name, details, capture, policy)
        wrapper.__audited_action__ = name  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


class _Policy:
    """What one decorator redacts, and whether it fails closed; ``log_call``'s keywords."""

    __slots__ = ("redact", "fail_closed", "keywords")

    def __init__(self, redact: Tuple[str, ...], hmac: Tuple[str, ...], fail_closed: bool):
        self.redact = redact
        self.fail_closed = fail_closed
        self.keywords: Dict[str, Any] = {}
        if redact:
            self.keywords["redact"] = list(redact)
        if hmac:
            self.keywords["hmac"] = list(hmac)
        if fail_closed:
            self.keywords["fail_closed"] = True


def _logger_for(policy: _Policy):
    """``log_call`` with the policy's keywords bound (plain ``log_call`` when it has none)."""
    if not policy.keywords:
        return _native.log_call
    return functools.partial(_native.log_call, **policy.keywords)


def _wrap_sync(fn, name, details, capture, policy):
    snapshot, active = _native.snapshot, _native.is_active
    log_call = _logger_for(policy)
    admit = _native.admit if policy.fail_closed else None
    redact = list(policy.redact)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not active():
            return fn(*args, **kwargs)
        if admit is not None:
            admit(name, redact)
        try:
            extra = snapshot(details(*args, **kwargs), "details") if details is not None else None
            before = snapshot(capture(*args, **kwargs)) if capture is not None else None
        except BaseException as exc:
            log_call(name, _audit_failure("details/capture", exc))
            raise
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            after = _after_failure(name, capture, args, kwargs, snapshot)
            log_call(name, _error_of(exc), extra, before, after)
            raise
        if capture is not None:
            try:
                after = snapshot(capture(*args, **kwargs))
            except BaseException as exc:
                log_call(name, _audit_failure("capture", exc), extra, before)
                raise
        else:
            after = None
        log_call(name, None, extra, before, after)
        return result

    return wrapper


def _wrap_async(fn, name, details, capture, policy):
    snapshot, active = _native.snapshot, _native.is_active
    log_call = _logger_for(policy)
    admit = _native.admit if policy.fail_closed else None
    redact = list(policy.redact)

    async def call(f, args, kwargs):
        value = f(*args, **kwargs)
        return await value if inspect.isawaitable(value) else value

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        if not active():
            return await fn(*args, **kwargs)
        if admit is not None:
            admit(name, redact)
        try:
            extra = (
                snapshot(await call(details, args, kwargs), "details")
                if details is not None
                else None
            )
            before = snapshot(await call(capture, args, kwargs)) if capture is not None else None
        except BaseException as exc:
            log_call(name, _audit_failure("details/capture", exc))
            raise
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            after = None
            if capture is not None and not _is_cancelled(exc):
                try:
                    after = snapshot(await call(capture, args, kwargs))
                except Exception as capture_exc:
                    _capture_lost(name, capture_exc)
            log_call(name, _error_of(exc), extra, before, after)
            raise
        if capture is not None:
            try:
                after = snapshot(await call(capture, args, kwargs))
            except BaseException as exc:
                log_call(name, _audit_failure("capture", exc), extra, before)
                raise
        else:
            after = None
        log_call(name, None, extra, before, after)
        return result

    return wrapper


def _after_failure(name, capture, args, kwargs, snapshot) -> Union[Any, None]:
    """``capture`` after a body that raised: recorded if it can be, since what the call
    changed before it failed is what an auditor wants; its own failure then must not hide
    the body's exception."""
    if capture is None:
        return None
    try:
        return snapshot(capture(*args, **kwargs))
    except Exception as exc:
        _capture_lost(name, exc)
        return None


def _capture_lost(name: str, exc: Exception) -> None:
    _log.warning(
        "the %s call failed, and its capture= raised %s: %s afterwards; the event has no "
        "'after'",
        name,
        type(exc).__name__,
        exc,
    )
