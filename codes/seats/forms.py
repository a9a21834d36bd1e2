from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional


class AllotmentForm(FlaskForm):
    seat_allotment = IntegerField("Seat allotment", validators=[
        Optional(), NumberRange(min=0, message="An allotment can't be negative. Leave it empty for none.")],
        description="Seats reserved for this classroom: its codes can take at most this many new "
                    "seats, and no other code can take them. Empty for none.")
