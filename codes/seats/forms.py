from flask_wtf import FlaskForm
from wtforms.validators import Optional

from ..numbers import WholeNumberField
from .operations import ALLOTMENT_RANGE, MAX_SEATS


class AllotmentForm(FlaskForm):
    seat_allotment = WholeNumberField(
        "Seat allotment",
        validators=[Optional()],
        min=0,
        max=MAX_SEATS,
        range_message=ALLOTMENT_RANGE,
        min_message="An allotment can't be negative. Leave it empty for none.",
        description="Seats reserved for this classroom: its codes can take at most this many new "
        "seats, and no other code can take them. Empty for none.",
    )
