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
