"""``{% page_head_parts %}``: what other modules add to every page's ``<head>``."""

from __future__ import annotations

from django import template
from django.template import Context
from django.utils.safestring import SafeString, mark_safe

from evim.backoffice.extensions import page_heads, render_parts

register = template.Library()


@register.simple_tag(takes_context=True)
def page_head_parts(context: Context) -> SafeString:
    request = context.get("request")
    if request is None:
        return SafeString("")
    # Each part was rendered by Django's template engine, which escaped its values.
    return mark_safe("\n".join(render_parts(page_heads, request)))  # noqa: S308
