"""``govex cluster status|drain|remove``: the nodes of a cluster as the serving node sees
them; a node taken out (drain) and forgotten (remove).

Run against a node's data directory (its admin socket) or ``--url``: each node heard of
on the nodes topic, whether it is live, the control offset it applied and its lag behind
the control topic, its record lag, and this node's state digest (nodes that applied the
same events show the same digest). ``drain`` takes the node serving DATA out (it exits
0 once done); ``remove --node-id N`` forgets a node that left.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from exchange.cli.options import DataOpt, operate
from exchange.cli.output import say, show

__all__ = ["cluster_app"]

cluster_app = typer.Typer(
    help="One exchange on many nodes (集群): the nodes, their applied control offset and lags.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@cluster_app.command("status")
def status(
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Nodes, their lag per topic (control, records) and applied control offset."""
    found: dict[str, Any] = operate(data, "cluster.status")
    rows = [
        (
            n["node"],
            n["state"],
            n["applied"],
            n["control_lag"],
            "-" if n["record_lag"] is None else n["record_lag"],
            n["seen_s_ago"],
        )
        for n in found["nodes"]
    ]
    if not as_json:
        say(
            f"node {found['node']}: applied {found['applied'] + 1} of {found['control_end']} "
            f"control event(s) on {found['control_topic']}; state digest {found['digest'][:16]}"
        )
        if found.get("failure"):
            say(f"stopped applying (停止应用): {found['failure']}; restart this node")
    show(
        ("node", "state", "applied", "control lag", "record lag", "seen (s ago)"),
        rows,
        as_json=as_json,
        records=found,
    )


@cluster_app.command("drain")
def drain(
    data: DataOpt = None,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            max=600,
            help="seconds it goes on answering 503 once idle (your load balancer's "
            "health-check interval)",
        ),
    ] = 0.0,
) -> None:
    """Take the node serving DATA out of the cluster: its /healthz answers 503 draining, new
    requests 503 exchange.node_draining, those in flight finish, it applies the control
    topic, says it leaves, and its `govex serve` exits 0."""
    found: dict[str, Any] = operate(data, "cluster.drain", {"grace_s": grace})
    say(
        f"node {found['node']} drained (已退出): applied {found['applied'] + 1} of "
        f"{found['control_end']} control event(s); its govex serve exits"
    )


@cluster_app.command("remove")
def remove(
    node_id: Annotated[str, typer.Option("--node-id", help="the node to forget (it left)")],
    data: DataOpt = None,
) -> None:
    """Forget a node that left (drained, or stopped): `govex cluster status` no longer
    lists it. A live node is refused: drain it first."""
    found: dict[str, Any] = operate(data, "cluster.remove", {"node": node_id})
    say(f"node {found['removed']} removed from the cluster (已移除): {found['state']}")
