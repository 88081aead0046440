"""Switches that cut people or machines off happen only once confirmed, with or without script.

A form posted without the field confirm=1 is answered with a page that restates the
consequence and posts the same fields again with confirm=1 (and a fresh CSRF token); the
browser dialog of static/js/confirm.js adds the field itself once the user said yes.
"""

from flask import render_template, request

CONFIRM_FIELD = "confirm"


def confirmed():
    """True when the posted form carries confirm=1."""
    return request.form.get(CONFIRM_FIELD) == "1"


def confirmation_page(consequence, cancel_url):
    """The page asking once more: `consequence` in words, the posted fields kept as they were."""
    fields = [(name, value) for name, value in request.form.items(multi=True)
              if name not in ("csrf_token", CONFIRM_FIELD)]
    return render_template("confirm/page.html", consequence=consequence, action=request.path,
                           fields=fields, cancel_url=cancel_url)
