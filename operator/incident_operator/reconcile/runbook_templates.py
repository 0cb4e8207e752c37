# ruff: noqa: E501  (template lines are the runbook's, kept whole)
"""The runbook's communication templates, word for word, as Jinja2.

Each bracketed placeholder of the runbook (``[INC-XXXX]``, ``[X hours Y minutes]``)
became a variable; docs/escalation.md lists them. A policy overrides any template in
``spec.communication.templates``; these are what an override that fails falls back to.
The update reminder is ours: the runbook asks for updates on a cadence but has no
template for reminding whoever owes one, nor for the coordination message #sre-team
gets when a role is assigned or handed off. A reopened incident is announced with the
declaration's template, ``reopened`` true: its header says INCIDENT REOPENED.
The declaration and the escalation notice end with the related dashboards and
runbooks (the runbook's appendix), a block of ours the runbook's templates lack.
"""

from typing import Final

# The policy's related dashboards and runbooks (the runbook's appendix by default), closing
# the declaration and the escalation notice.
_RELATED_LINKS: Final = """\
Dashboards:
{% for link in links.dashboards -%}
- {{ link.name }}: {{ link.url }}
{% endfor -%}
Runbooks:
{% for link in links.runbooks -%}
- {{ link.name }}: {{ link.url }}
{% endfor -%}
"""

DECLARATION: Final = (
    """\
{{ 'INCIDENT REOPENED' if reopened else 'INCIDENT DECLARED' }}
===================================================
Incident ID: {{ incident.id }}
Severity: {{ incident.severity }} - {{ incident.severity_definition }}
{% if incident.severity_examples -%}
Examples of {{ incident.severity }}: {{ incident.severity_examples | join('; ') }}
{% endif -%}
Incident Commander: {{ ('@' ~ incident.commander) if incident.commander else '(not yet assigned)' }}
Channel: {{ incident.channel }}

Summary:
{{ incident.title }}

Impact:
{{ incident.impact or 'Being assessed.' }}{{ ('\nTriage: ' ~ incident.triage) if incident.triage else '' }}

Current Status:
{{ incident.summary or ('Phase ' ~ incident.phase ~ ': ' ~ incident.state ~ '.') }}

Next Update: {{ next_update.line }}

"""
    + _RELATED_LINKS
    + """===================================================
"""
)

STATUS_UPDATE: Final = """\
INCIDENT UPDATE
===================================================
Incident ID: {{ incident.id }}
Status: {{ incident.state }}
Duration: {{ incident.duration }}

Update:
{{ update.message if update else 'No update posted yet.' }}{{ ('\nImpact (triage): ' ~ incident.triage) if incident.triage else '' }}

Current Actions:
{% for action in current_actions -%}
- {{ action }}
{% else -%}
- Investigation in progress
{% endfor %}
Next Steps:
{% for step in next_steps -%}
- {{ step }}
{% else -%}
- Continue the response; see the incident channel
{% endfor %}
Next Update: {{ next_update.line }}
===================================================
"""

RESOLUTION: Final = """\
INCIDENT RESOLVED
===================================================
Incident ID: {{ incident.id }}
Resolution Time: {{ incident.resolved or 'not yet resolved' }}
Total Duration: {{ incident.duration }}

Summary:
{{ incident.summary or incident.title }}

Root Cause:
{{ incident.root_cause or 'Under investigation; see the post-mortem.' }}

Impact:
- Users affected: {{ incident.impact or 'being assessed' }}
- Duration of impact: {{ incident.impact_duration }}
- Data loss: {{ 'Yes - see the post-mortem' if incident.data_loss else 'No' }}

Follow-up:
- Post-mortem scheduled: {{ incident.post_mortem_scheduled or 'not required' }}
- Action items: {{ incident.action_items }}

Thanks to responders: {{ incident.responder_mentions or '-' }}
===================================================
"""

ESCALATION: Final = (
    """\
ESCALATION NOTICE
-----------------------------------------
Incident ID: {{ incident.id }}
Current Severity: {{ incident.severity }}
Duration: {{ incident.duration }}

Summary:
{{ incident.title }}

Impact:
{{ incident.impact or 'Being assessed.' }}{{ ('\nTriage: ' ~ incident.triage) if incident.triage else '' }}

Current Status:
{{ incident.last_update or ('Phase ' ~ incident.phase ~ ': ' ~ incident.state ~ '.') }}

Reason for Escalation:
{{ escalation.reason }}

Requested Action:
{{ escalation.requested_action }}

Incident Channel: {{ incident.channel }}
Bridge: {{ incident.bridge or 'n/a' }}

"""
    + _RELATED_LINKS
    + """-----------------------------------------
"""
)

CUSTOMER_INITIAL: Final = """\
Subject: [Service Disruption] AgentOS Platform

Dear Customer,

We are currently investigating an issue affecting {{ incident.services }}.

What we know:
- Issue started at approximately {{ incident.started_time }} UTC
- {{ incident.impact or incident.title }}

What we're doing:
- Our engineering team is actively investigating
- We will provide updates every {{ next_update.every or 'few hours' }}

Workaround (if available):
{{ incident.workaround or 'No workaround is available at this time.' }}

We apologize for any inconvenience and will keep you updated.

Status Page: https://status.agentos.io

The AgentOS Team
"""

CUSTOMER_PROGRESS: Final = """\
Subject: [Update] AgentOS Platform - Issue Under Investigation

Dear Customer,

This is an update regarding the ongoing issue with {{ incident.services }}.

Current Status: {{ incident.customer_status }}

Update:
{{ update.message if update else 'We are continuing to investigate.' }}

Expected Resolution:
{{ incident.expected_resolution or 'We are working to resolve as quickly as possible' }}

Next Update:
We will provide another update in {{ next_update.every or 'a few hours' }} or when we have significant news.

The AgentOS Team
"""

CUSTOMER_RESOLUTION: Final = """\
Subject: [Resolved] AgentOS Platform Service Restored

Dear Customer,

The issue affecting {{ incident.services }} has been resolved.

Timeline:
- Issue Started: {{ incident.started }} UTC
- Issue Resolved: {{ incident.resolved_time or '-' }} UTC
- Total Duration: {{ incident.duration }}

What Happened:
{{ incident.summary or incident.title }}

Resolution:
{{ incident.last_update or 'Our engineers applied a fix and verified that the service is working normally.' }}

We sincerely apologize for any disruption this may have caused to your operations.

The AgentOS Team
"""

UPDATE_REMINDER: Final = """\
STATUS UPDATE DUE
===================================================
Incident ID: {{ incident.id }} ({{ incident.severity }}, {{ incident.state }})
{{ reminder.to }}: a status update was due at {{ reminder.due }}.
Post one with: kubectl incident update {{ incident.id }} "..." -n {{ incident.namespace }}
===================================================
"""

CUSTOMER_REMINDER: Final = """\
CUSTOMER COMMUNICATION DUE
============================================Incident ID: {{ incident.id }} ({{ incident.severity }}, {{ incident.state }})
{{ reminder.to }}: the {{ reminder.what }} was due at {{ reminder.due }}.
A draft ({{ reminder.kind }}) is ready: kubectl incident publish {{ incident.id }} --dry-run -n {{ incident.namespace }}
Publish it (edited as needed) with: kubectl incident publish {{ incident.id }} --edit -n {{ incident.namespace }}
===================================================
"""

COORDINATION: Final = """\
INCIDENT COORDINATION
===================================================
Incident ID: {{ incident.id }} ({{ incident.severity }}, {{ incident.state }})
Channel: {{ incident.channel }}
{{ coordination.line if coordination else 'Incident roles changed.' }}

Roles now:
{% for role in (coordination.roles if coordination else []) -%}
- {{ role.title }}: {{ ('@' ~ role.holder) if role.holder else '(unassigned)' }}
{% endfor -%}
===================================================
"""

SIGNALS_JOINED: Final = """\
SIGNALS JOINED
===================================================
Incident ID: {{ incident.id }} ({{ incident.severity }}, {{ incident.state }})
Channel: {{ incident.channel }}
More signals joined this incident (one outage, one incident):
{% for signal in signals -%}
- {{ signal.line }}
{% else -%}
- (the signals are listed in kubectl incident show {{ incident.id }})
{% endfor -%}
===================================================
"""
