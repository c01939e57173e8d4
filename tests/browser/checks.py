"""Checks every console page must pass in the browser: labels, one h1, no sideways scroll."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["assert_readable"]

# every visible form control must have a label (or an aria-label); returns the unlabelled
_UNLABELLED = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => el.tagName === 'BUTTON'
      ? !(el.textContent.trim() || el.getAttribute('aria-label'))
      : !((el.labels && el.labels.length) || el.getAttribute('aria-label')))
  .map(el => el.outerHTML.slice(0, 120))
"""

_OVERFLOW = """
() => ({scroll: document.documentElement.scrollWidth, view: window.innerWidth})
"""


def assert_readable(page: Page) -> None:
    """The page is labelled, has one main heading, and fits its viewport's width."""
    assert page.evaluate(_UNLABELLED) == []
    assert page.locator("h1").count() == 1
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    size = page.evaluate(_OVERFLOW)
    assert size["scroll"] <= size["view"], f"the page scrolls sideways: {size}"
