"""What the app asks before an action that cannot be undone, in one place: the
button asks it where JavaScript runs (templates/macros/forms.html action_button),
and the route asks it on a page of its own where it does not (codes.web.asks_first).
Each is a question and the button that answers yes."""

QUESTIONS = {
    "deactivate_code": (
        "Deactivate {code} for good? It stops working at once and cannot be turned back on.",
        "Deactivate",
    ),
    "delete_code": ("Delete {code}? It leaves every list; people who joined with it stay.", "Delete"),
    "delete_classroom": (
        "Delete the classroom {name}? Its people stay in the organization and keep "
        "their seats; its codes stop placing anyone.",
        "Delete classroom",
    ),
    "delete_course": ("Delete the course {name}? Its students keep their classrooms.", "Delete course"),
    "remove_member": (
        "Remove {person} from {classroom}? They stay in the organization and keep their "
        "courses; their code does not put them back.",
        "Remove",
    ),
    "revoke_link": ("Revoke {parent}'s link to {student}? They stop seeing {student} at once.", "Revoke"),
    "cancel_invitation": (
        "Cancel the invitation to {email}? Its link stops working.",
        "Cancel the invitation",
    ),
    "decline_invitation": (
        "Decline the invitation of {org}? Its link stops working; {org} would have to invite you again.",
        "Decline",
    ),
    "cancel_parent_code": ("Cancel the parent code {code}? It stops working at once.", "Cancel it"),
    "replace_join_code": (
        "Replace the join code of {classroom} with a new one? The old one stops working at once.",
        "Replace it",
    ),
    "decline_request": (
        "Decline {person}'s request to join through {code}? They will see it was declined.",
        "Decline",
    ),
    "accept_all_requests": (
        "Accept all {count} waiting for {code}? Each one new to the organization takes a seat for good.",
        "Accept all",
    ),
    "decline_all_requests": ("Decline all {count} waiting for {code}?", "Decline all"),
    "rotate_code": (
        "Give {code} a new text? The old one stops working at once: share the new one with "
        "those who should have it.",
        "Rotate",
    ),
    "logout_everywhere": ("Log out on every device, this one too?", "Log out everywhere"),
    # The bulk actions of the existing-codes table: {codes} is how many, in words.
    "bulk_deactivate": (
        "Deactivate {codes} for good? They stop working at once and cannot be turned back on.",
        "Deactivate {codes}",
    ),
    "bulk_off": (
        "Switch off {codes}? They stop working until they are switched on again.",
        "Switch off {codes}",
    ),
    "bulk_on": (
        "Switch on {codes}? They work again, each within its own dates and limits.",
        "Switch on {codes}",
    ),
    "bulk_expiry": ("Make {codes} expire at the end of {day}?", "Change the expiry of {codes}"),
    "bulk_no_expiry": (
        "Remove the expiry of {codes}? They work until they are used up, switched off or deactivated.",
        "Remove the expiry of {codes}",
    ),
}


def question(kind, **names):
    """The question asked before the action `kind`, with its names filled in."""
    return QUESTIONS[kind][0].format(**names)


def answer(kind, **names):
    """The label of the button that answers the question yes."""
    return QUESTIONS[kind][1].format(**names)
