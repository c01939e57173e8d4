"""The operator's channel: every operator command against a stopped or a running exchange.

- :mod:`.operations` — the registry of named operations (``name → function(context,
  params) → JSON-able result``), :func:`~.operations.run_operation` (validates, runs,
  audits ``admin.<name>``), :class:`~.operations.Operator` (who and through which path);
- :mod:`.builtin` — the operations of the existing commands (departments, demo token,
  certificates and bulk issuance, trust bundle, case, audit export, trace, archive and
  live verify, quarantine, backup) and :func:`~.builtin.audit_time` (the dates of the
  audit options, read the same way by the CLI before it calls);
- :mod:`.manage` — the department lifecycle (add, key rotate/revoke, suspend, resume,
  remove) and the catalog (add, update, list);
- :mod:`.staff_ops` — the operations of ``govex staff …`` (add, list, disable or enable,
  reset, require-act);
- :mod:`.grants` — the operations of ``govex grant request|decide|revoke|narrow|list``;
- :mod:`.channel` — the CLI side: :func:`~.channel.open_channel` picks ``--url``
  (:class:`~.channel.RemoteChannel`), the admin socket of a running ``govex serve``
  (:class:`~.channel.SocketChannel`) or the data directory itself
  (:class:`~.channel.DirectChannel`); errors come back as problem+json;
- :mod:`.listener` — the server side inside ``govex serve``: ``DATA/admin.sock`` (mode
  0600, no TCP port) and its small ASGI app;
- :mod:`.route` — ``POST /v1/admin/ops/{name}`` for an operator department's token.

Adding a command (one line each side)::

    # exchange/departments/admin.py — the operation
    class RegisterParams(Params):
        uscc: str
        name: str

    @operation("department.register", RegisterParams)
    def register(ctx: OperationContext, params: RegisterParams) -> dict[str, Any]:
        \"\"\"Register a department.\"\"\"
        return ctx.exchange.registry.register(...).model_dump(mode="json")

    # exchange/admin/operations.py — OPERATION_MODULES gets "exchange.departments.admin"

    # exchange/cli/department.py — the command
    @department_app.command("register")
    def register(uscc: str, name: str, data: DataOpt = None) -> None:
        shown = operate(data, "department.register", {"uscc": uscc, "name": name})
        console.print(...)

:func:`exchange.cli.options.operate` takes the data directory and the global ``--url``,
``--uscc``, ``--key``, ``-v`` of ``govex``, and runs the operation the same way on every
path; a refusal becomes the CLI's one line (``error [code]: …``) and a non-zero exit.
"""

from exchange.admin.operations import (
    NoParams,
    OperationContext,
    Operator,
    Params,
    operation,
    run_operation,
)

__all__ = ["NoParams", "OperationContext", "Operator", "Params", "operation", "run_operation"]
