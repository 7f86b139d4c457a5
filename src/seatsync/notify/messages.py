"""What seatsync tells people, and how it looks in each channel. Pure: no I/O.

One :class:`Event` per thing worth hearing about (a run that ended with failed or blocked rows, rows waiting
for approval, a connection that broke, a scheduled push that was missed). Each channel renders the same event:
an e-mail (subject and plain text), a generic JSON document, a Slack message (``text`` and Block Kit blocks) or a
Microsoft Teams message (an Adaptive Card, the format of Teams' Workflows webhooks).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: companies listed in one message; the rest are counted ("and 12 more")
LISTED = 20


class EventKind(enum.StrEnum):
    RUN_PROBLEMS = "run_problems"
    AWAITING_APPROVAL = "awaiting_approval"
    CONNECTION_BROKEN = "connection_broken"
    SCHEDULE_MISSED = "schedule_missed"


class WebhookFormat(enum.StrEnum):
    JSON = "json"
    SLACK = "slack"
    TEAMS = "teams"


@dataclass(frozen=True, slots=True)
class CompanyLine:
    """One company an event is about, with what is wrong there."""

    company_id: str
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    tenant: str
    #: one line: what happened
    title: str
    #: what to do about it
    advice: str
    #: the same event is delivered once per channel, even when it is raised twice (a retried job)
    key: str
    target: str | None = None
    period: str | None = None
    run_id: int | None = None
    link: str | None = None
    companies: tuple[CompanyLine, ...] = field(default=())

    @property
    def subject(self) -> str:
        return f"[seatsync] {self.tenant}: {self.title}"

    def listed(self) -> tuple[tuple[CompanyLine, ...], int]:
        """The companies shown, and how many more there are."""
        return self.companies[:LISTED], max(0, len(self.companies) - LISTED)


def email_text(event: Event) -> str:
    shown, more = event.listed()
    lines = [event.title, "", event.advice]
    if shown:
        lines += ["", "Companies:"]
        lines += [f"- {c.name} ({c.company_id}): {c.detail}" for c in shown]
        if more:
            lines.append(f"- and {more} more")
    if event.link:
        lines += ["", f"Open: {event.link}"]
    lines += ["", f"-- seatsync, tenant {event.tenant}"]
    return "\n".join(lines) + "\n"


def _slack_escape(text: str) -> str:
    # the three characters Slack's mrkdwn gives a meaning to
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(event: Event) -> dict[str, Any]:
    shown, more = event.listed()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_escape(event.title)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(event.advice)}},
    ]
    if shown:
        items = [
            f"• *{_slack_escape(c.name)}* ({_slack_escape(c.company_id)}): {_slack_escape(c.detail)}" for c in shown
        ]
        if more:
            items.append(f"• and {more} more")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(items)}})
    if event.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open in seatsync"}, "url": event.link}
                ],
            }
        )
    return {"text": event.subject, "blocks": blocks}


def _teams(event: Event) -> dict[str, Any]:
    shown, more = event.listed()
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": event.title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": event.advice, "wrap": True},
    ]
    if shown:
        facts = [{"title": f"{c.name} ({c.company_id})", "value": c.detail} for c in shown]
        if more:
            facts.append({"title": "more", "value": f"and {more} more"})
        body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if event.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in seatsync", "url": event.link}]
    return {
        "type": "message",
        "summary": event.subject,
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _json(event: Event) -> dict[str, Any]:
    return {
        "event": event.kind.value,
        "tenant": event.tenant,
        "title": event.title,
        "advice": event.advice,
        "target": event.target,
        "period": event.period,
        "run_id": event.run_id,
        "link": event.link,
        "companies": [{"company_id": c.company_id, "name": c.name, "detail": c.detail} for c in event.companies],
    }


def webhook_payload(event: Event, fmt: WebhookFormat) -> dict[str, Any]:
    """The JSON body posted to a webhook of that format."""
    if fmt is WebhookFormat.SLACK:
        return _slack(event)
    if fmt is WebhookFormat.TEAMS:
        return _teams(event)
    return _json(event)
