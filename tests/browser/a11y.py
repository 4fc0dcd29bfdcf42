"""Accessibility checks run inside the page: labels and WCAG AA text contrast."""

from __future__ import annotations

#: Visible form controls without an accessible name.
UNLABELLED_CONTROLS_JS = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => el.offsetParent !== null)
  .filter(el => {
    if (el.tagName === 'BUTTON') return !(el.textContent.trim() || el.getAttribute('aria-label'));
    return !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
  })
  .map(el => el.outerHTML.slice(0, 120))
"""

#: Visible text whose contrast with its effective background is under WCAG AA
#: (4.5:1, or 3:1 for large text: >= 24px, or >= 18.66px bold). Disabled controls are exempt.
LOW_CONTRAST_JS = """
() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor); if (c && c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    if (el.closest('[disabled], .visually-hidden, details:not([open]) > :not(summary)')) continue;
    const rect = el.getBoundingClientRect(); if (!rect.width || !rect.height) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const fg = parse(style.color), bg = background(el);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    const text = el.textContent.trim().slice(0, 40);
    if (ratio < needed) failures.push(`${ratio.toFixed(2)} < ${needed}: ${el.tagName} "${text}"`);
  }
  return failures;
}
"""


def assert_accessible(page) -> None:  # noqa: ANN001 - a Playwright Page
    assert page.evaluate(UNLABELLED_CONTROLS_JS) == [], "form controls without a label"
    assert page.evaluate(LOW_CONTRAST_JS) == [], "text below WCAG AA contrast"
