"""Why a value was refused, in the user's language: one wording for every page."""

from flask_babel import gettext as _


def field_message(code, params):
    """The message for one refused value (params: low, high, unit for a range), or None."""
    if code == "out_of_range":
        return _("Must be between %(low)s and %(high)s %(unit)s.", low=f"{params['low']:g}",
                 high=f"{params['high']:g}", unit=params["unit"])
    return {
        "missing": _("Required."),
        "not_a_number": _("Enter a number (for example 0.25)."),
        "not_finite": _("Enter a finite number (not NaN or infinity)."),
    }.get(code)


def translated_error(error):
    """The message for one invalid field (a features.validation.FieldError)."""
    return field_message(error.code, error.params)






def query_message(error):
    """Why the window or asset cannot be shown, in the reader's language."""
    return {
        "bad_dates": lambda: _("Write both dates as YYYY-MM-DD (for example 2026-03-01)."),
        "dates_reversed": lambda: _("The end date is before the start date."),
        "window_too_long": lambda: _("A window is at most %(days)s days: ask for a shorter one, "
                                     "or several.", **error.params),
        "unknown_window": lambda: _("The window %(name)s is not one of the windows offered: "
                                    "choose one in the list.", **error.params),
        "unknown_asset": lambda: _("There is no asset named %(asset)s: choose one in the list.",
                                   **error.params),
    }[error.code]()


def filter_message(error):
    """Why a history filter cannot be used, in the reader's language."""
    params = error.params
    return {
        "bad_date": lambda: _("write the dates as YYYY-MM-DD (for example 2026-03-31)"),
        "dates_reversed": lambda: _("the end day is before the start day"),
        "bad_channel": lambda: _("choose a channel among %(choices)s", **params),
        "bad_verdict": lambda: _("choose a verdict among %(choices)s", **params),
        "control_character": lambda: _("remove the control character from the %(field)s "
                                       "field", **params),
    }[error.code]()


def feedback_message(error):
    """Why feedback was not recorded (a FeedbackError or an OSError), in the user's language."""
    if getattr(error, "character", ""):
        return _("the comment holds a control character (%(character)s): write it again "
                 "without it.", character=error.character)
    if isinstance(error, OSError):
        return _("the feedback file cannot be written; tell an administrator.")
    return str(error)


def switch_refusal(error):
    """Why a model switch was refused (a SwitchRefused), in the user's language."""
    messages = {
        "already_active": _("%(version)s is already the active version of %(asset)s."),
        "no_previous": _("%(asset)s has no earlier active version to roll back to."),
        "shadow_is_active": _("%(version)s is the active version of %(asset)s; a shadow must "
                              "be another version."),
        "already_shadow": _("%(version)s is already the shadow of %(asset)s."),
    }
    if error.code not in messages:
        return str(error)
    return messages[error.code] % error.params


def reason_message(error):
    """Why the reason of a switch was refused (a ReasonRequired), in the user's language."""
    if getattr(error, "character", ""):
        return _("The reason holds a control character (%(character)s): write it again "
                 "without it.", character=error.character)
    return str(error)
