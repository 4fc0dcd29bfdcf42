"""The accessibility checks themselves catch what they claim to."""

from __future__ import annotations

import pytest

from tests.browser.a11y import LOW_CONTRAST_JS, UNLABELLED_CONTROLS_JS

pytestmark = pytest.mark.browser


def test_contrast_check_flags_grey_on_white_and_passes_dark_text(page):
    page.set_content(
        '<body style="background:#fff"><p id="bad" style="color:#999">low</p>'
        '<p style="color:#1a1a2e">fine</p><h1 style="font-size:32px;color:#777">large is 3:1</h1>'
        '<button disabled style="color:#ccc">disabled is exempt</button></body>'
    )
    failures = page.evaluate(LOW_CONTRAST_JS)
    assert len(failures) == 1
    assert '"low"' in failures[0]


def test_label_check_flags_unlabelled_inputs(page):
    page.set_content(
        '<label for="a">Name</label><input id="a"><input id="b" name="unlabelled">'
        '<input aria-label="Search"><button></button><button>OK</button>'
    )
    failures = page.evaluate(UNLABELLED_CONTROLS_JS)
    assert len(failures) == 2
    assert 'id="b"' in failures[0]
    assert "<button" in failures[1]
