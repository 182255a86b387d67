"""``python manage.py check`` reports what is wrong with ``settings.LILQUEUE``
(``lilqueue.E001`` … ``E005``, see ``conf.problems``)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from .conf import problems, raw


@checks.register("lilqueue")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(p.message, hint=p.hint, id=p.id, obj="settings.LILQUEUE") for p in problems(raw())]
