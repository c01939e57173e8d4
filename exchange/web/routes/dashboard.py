"""The operator's dashboard: exchanges per department per day, refusals, quarantine,
materials removed per matter as measured — as SVG charts drawn by govex — then the
operator's tables (:mod:`exchange.web.operations`): departments, quarantine, grant
backlog, connector freshness, call volumes and response times; the bus per partition as
``/healthz`` reports it (partial ``bus_health.html``); the latest checkpoint."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from exchange.api.deps import ExchangeDep
from exchange.service import Exchange
from exchange.web.charts import Series, bars, stacked_columns
from exchange.web.figures import figures
from exchange.web.guard import Operator, console_router
from exchange.web.messages import message_for
from exchange.web.operations import STATE_LABELS, operations
from exchange.web.pages import render
from exchange.web.trail import current_checkpoint

__all__ = ["router"]

router = console_router("/dashboard")


def bus_health(exchange: Exchange) -> dict[str, Any] | None:
    """The Kafka consumer's health as ``/healthz`` reports it; None without one."""
    consumer = exchange.consumer
    if consumer is None:
        return None
    bus = consumer.health()
    limit = exchange.settings.kafka.catchup_lag
    bus["catching_up"] = limit is not None and bus["lag"] is not None and bus["lag"] > limit
    return bus


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, exchange: ExchangeDep, _: Operator) -> HTMLResponse:
    f = figures(exchange)
    days = [d.strftime("%m-%d") for d in f.days]
    per_department = [Series(name, values) for name, values in f.exchanges.items()]
    no_exchange = "近14天没有数据交换 · no exchanges in 14 days"
    title = "每日各部门数据交换次数 Exchanges per department per day"
    charts = {
        "exchanges": stacked_columns(
            title, days, per_department, width=1100, height=300, empty=no_exchange
        ),
        "exchanges_compact": stacked_columns(
            title,
            days,
            per_department,
            width=400,
            height=300 + 21 * ((len(per_department) + 1) // 2),
            font=14,
            legend_columns=2,
            empty=no_exchange,
        ),
        "refused": stacked_columns(
            "每日被拒绝的查询 Refused queries per day",
            days,
            [Series("被拒绝 refused", f.refused_by_day, "#b3261e")],
            width=400,
            height=260,
            font=14,
            legend_columns=1,
            empty="近14天没有被拒绝的查询 · no refused query in 14 days",
        ),
        "refused_codes": bars(
            "被拒绝查询的原因 Why queries were refused",
            [
                (message_for(code).zh.split("：")[0].split("，")[0], n)
                for code, n in f.refused_by_code
            ],
            colour="#b3261e",
            empty="无 · none",
        ),
        "quarantine": bars(
            "隔离记录（按资源）Quarantined records by resource",
            f.quarantine_by_resource,
            colour="#8a5300",
            empty="没有隔离记录 · nothing quarantined",
        ),
        "materials": bars(
            "每个事项实际共享获取的材料数（平均） Materials obtained per case, measured",
            [(m.name, m.obtained_avg) for m in f.materials if m.cases],
            colour="#13733a",
            ceiling=max((m.required for m in f.materials), default=1),
            empty="尚无办件 · no case resolved yet",
        ),
    }
    return render(
        request,
        "dashboard.html",
        {
            "f": f,
            "ops": operations(exchange, getattr(request.app.state, "call_times", None)),
            "state_labels": STATE_LABELS,
            "charts": charts,
            "checkpoint": current_checkpoint(exchange),
            "bus": bus_health(exchange),
        },
        active="dashboard",
    )
