"""``{% page_head_parts %}``, ``{% header_parts %}``, ``{% login_page_parts %}`` and
``{% login_page_notices %}``: what other modules add to every page's ``<head>``, to its top
bar and to the login page (under and above its form)."""

from __future__ import annotations

from django import template
from django.template import Context
from django.utils.safestring import SafeString, mark_safe

from evim.backoffice.extensions import (
    PagePart,
    header_items,
    login_notices,
    login_parts,
    page_heads,
    render_parts,
)

register = template.Library()


def _rendered(context: Context, parts: list[PagePart]) -> SafeString:
    request = context.get("request")
    if request is None:
        return SafeString("")
    # Each part was rendered by Django's template engine, which escaped its values.
    return mark_safe("\n".join(render_parts(parts, request)))  # noqa: S308


@register.simple_tag(takes_context=True)
def page_head_parts(context: Context) -> SafeString:
    return _rendered(context, page_heads)


@register.simple_tag(takes_context=True)
def header_parts(context: Context) -> SafeString:
    return _rendered(context, header_items)


@register.simple_tag(takes_context=True)
def login_page_parts(context: Context) -> SafeString:
    return _rendered(context, login_parts)


@register.simple_tag(takes_context=True)
def login_page_notices(context: Context) -> SafeString:
    return _rendered(context, login_notices)
