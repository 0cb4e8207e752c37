"""An incident's signals and its merge and split links, as the plugin prints them."""

from typing import Any

from incident_operator.cli.escape import escape


def signal_lines(status: dict[str, Any]) -> list[str]:
    """The signals table: id, source, rule/alert, workload, level, first seen, recovered."""
    signals = status.get("signals") or []
    if not signals:
        return []
    lines = [
        "  ID     SOURCE        RULE/ALERT                WORKLOAD                  LEVEL     "
        "FIRST SEEN            RECOVERED"
    ]
    for signal in signals:
        workload = signal.get("workload") or {}
        where = f"{workload.get('kind')}/{workload.get('name')}" if workload else "-"
        moved = f"  (from {signal['movedFrom']})" if signal.get("movedFrom") else ""
        lines.append(
            "  "
            + "  ".join(
                [
                    f"{escape(signal.get('id')):<5}",
                    f"{escape(signal.get('source')):<12}",
                    f"{escape(signal.get('rule')):<24}",
                    f"{escape(where):<24}",
                    f"{escape(signal.get('level')):<8}",
                    f"{escape(signal.get('firstSeen')):<20}",
                    escape(
                        signal.get("recoveredAt") or ("-" if signal.get("breaching") else "yes")
                    ),
                ]
            )
            + escape(moved)
        )
    return lines


def signals_section(status: dict[str, Any]) -> list[str]:
    """``kubectl incident show``'s signals and merge/split links."""
    lines = []
    signals = signal_lines(status)
    if signals:
        lines += ["", f"Signals ({len(status.get('signals') or [])}):", *signals]
    links = [
        (label, value)
        for label, value in (
            ("Merged into:    ", status.get("mergedInto")),
            ("Merged from:    ", ", ".join(status.get("mergedFrom") or [])),
            ("Split from:     ", status.get("splitFrom")),
        )
        if value
    ]
    if links:
        lines.append("")
        lines += [f"{label} {escape(value)}" for label, value in links]
    return lines
