"""``{% lilqueue_card job %}``: a job's live progress card in a Django template (progress bar,
state, message, log lines, result or error, a cancel button), kept current by lilqueue.js
from the URLs ``lilqueue.django.urls`` serves; without JavaScript, a link to the status page.

    {% load lilqueue %}
    {% lilqueue_card job %}                  {# a Job, or a job's id #}
    {% lilqueue_card job cancel=False %}
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("lilqueue/card.html")
def lilqueue_card(job: Any, cancel: bool = True) -> dict[str, Any]:
    return {"job_id": job if isinstance(job, str) else job.id, "cancel": cancel}
