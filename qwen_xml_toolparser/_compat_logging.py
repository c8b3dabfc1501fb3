"""Log routing: the package's records in vLLM's log, at vLLM's level and in its format.

vLLM configures only its own ``vllm`` logger; ``qwen_xml_toolparser`` is not under it, so without
this its INFO records (each drift recovery, docs/drift.md) would reach no handler in ``vllm
serve`` and its warnings would print unformatted. Routing starts when this module is imported
(the adapter imports it).
"""

from __future__ import annotations

import logging

__all__ = ["logger", "route_logs_to_vllm"]

try:
    from vllm.logger import init_logger

    logger = init_logger("qwen_xml_toolparser")
except ImportError:  # pragma: no cover - vLLM without vllm.logger
    logger = logging.getLogger("qwen_xml_toolparser")


class _ToVllmLog(logging.Handler):
    """Hands the package's records to the handlers of vLLM's ``vllm`` logger, at its level.

    Looked up when each record is made, because vLLM configures its logging
    after the plugin may have been imported (0.33 does it from the server's
    arguments). With no vLLM handlers (``VLLM_CONFIGURE_LOGGING=0``) and none
    on the root logger either, warnings go to Python's last-resort handler,
    as they would without this handler. A handler that also gets the record by
    propagation (a test harness's, attached to both) is not given it twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger("vllm")
        if not target.handlers:
            if record.levelno >= logging.WARNING and not logging.getLogger().handlers and logging.lastResort:
                logging.lastResort.handle(record)
            return
        if record.levelno < target.getEffectiveLevel():
            return
        reached = _propagation_handlers(logging.getLogger("qwen_xml_toolparser"))
        for handler in target.handlers:
            if record.levelno >= handler.level and handler not in reached:  # never twice to one handler
                handler.handle(record)


def _propagation_handlers(log: logging.Logger) -> set[logging.Handler]:
    """The handlers a record of ``log`` reaches by propagating to its ancestors."""
    reached: set[logging.Handler] = set()
    parent = log.parent if log.propagate else None
    while parent is not None:
        reached.update(parent.handlers)
        parent = parent.parent if parent.propagate else None
    return reached


def route_logs_to_vllm() -> None:
    """Show the package's log records in vLLM's log (see the module docstring).

    Records still propagate to the root logger. Nothing changes when the application configured
    the package's logger (it has handlers, as the CLI's).
    """
    ours = logging.getLogger("qwen_xml_toolparser")
    if ours.handlers:
        return
    ours.addHandler(_ToVllmLog())
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)


route_logs_to_vllm()
