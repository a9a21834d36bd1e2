"""What the app says an action did, in one place (the questions asked before
actions that cannot be undone are in codes/questions.py). Routes flash these;
with htmx, the flashed message comes along with the fragment
(codes.web flashes_for_htmx), so an action says the same either way."""

from flask import url_for

from .models import ACCEPTED, DECLINED, PENDING, REFUSED, ROLE_TEACHER, SPIKE_DOMAIN, SPIKE_SURGE
from .words import choose, plural

# A message may name things as links: a list of parts, each a text or a
# [name, address] pair, which templates/macros/said.html draws (a flashed list
# survives the session as JSON does). str(message) for plain text is said_text.


def said_text(message):
    if isinstance(message, str):
        return message
    return "".join(part if isinstance(part, str) else part[0] for part in message)


def _listed(links):
    parts = []
    for i, link in enumerate(links):
        if i:
            parts.append(", ")
        parts.append(link)
    return parts


def joined(result):
    """What a redemption did (redeem.operations.Redeemed), the same words as its
    message, each classroom and course a link to what the person can see of it:
    for a teacher code its staff page, for a student their profile's entry for it
    (its teachers and courses; no page of a classroom is shown to students)."""
    if result.pending:
        return result.message
    teacher = result.code.role == ROLE_TEACHER
    if teacher:
        links = [[c.name, url_for("orgs.classroom", classroom_id=c.id)] for c in result.classrooms] + [
            [c.name, url_for("orgs.course", course_id=c.id)] for c in result.courses
        ]
    else:
        links = [
            [c.name, url_for("redeem.profile", _anchor=f"classroom-{c.id}")] for c in result.classrooms
        ] + [[c.name, url_for("redeem.profile", _anchor=f"course-{c.id}")] for c in result.courses]
    if not links:
        return result.message
    if result.already:
        lead = "You already teach " if teacher else "You're already in "
    else:
        lead = "You now teach " if teacher else "You joined "
    return [lead, *_listed(links), "."]


# -- codes ----------------------------------------------------------------------


def code_created(code):
    return f"Code {code.text} created."


def code_saved(code):
    return f"Code {code.text} saved."


def code_switched(code):
    if code.enabled:
        return f"Code {code.text} is on: it works again."
    return f"Code {code.text} is off: it stops working until it is turned on again."


def code_deactivated(code):
    return f"Code {code.text} deactivated. It no longer works."


def code_deleted(text):
    return f"Code {text} deleted."


def codes_changed(done, day=None):
    """What a bulk action did (codes.bulk.actions.Done); `day` the new expiry
    as the organization reads it, None for no expiry."""
    n, action = done.changed, done.change.action
    they = choose(n, "it", "they")
    if n == 0:
        said = "No code was changed."
    elif action == "deactivate":
        said = f"{plural(n, 'code')} deactivated. {choose(n, 'It no longer works.', 'They no longer work.')}"
    elif action == "off":
        stop = choose(n, "stops", "stop")
        said = f"{plural(n, 'code')} switched off: {they} {stop} working until switched on again."
    elif action == "on":
        said = f"{plural(n, 'code')} switched on: {they} work{choose(n, 's', '')} again."
    elif day is None:
        said = f"{plural(n, 'code')} no longer expire{choose(n, 's', '')}."
    else:
        said = f"{plural(n, 'code')} now expire{choose(n, 's', '')} at the end of {day}."
    if done.already:
        k = done.already
        if action == "expiry":
            said += f" {k} already did." if day is not None else f" {k} had no expiry already."
        else:
            state = {"deactivate": "deactivated", "off": "off", "on": "on"}[action]
            said += f" {k} {choose(k, 'was', 'were')} {state} already."
    if done.left:
        said += (
            f" {plural(done.left, 'deactivated code stays', 'deactivated codes stay')} "
            f"as {choose(done.left, 'it is', 'they are')}."
        )
    return said


def codes_made(count):
    return f"{plural(count, 'code')} made."


# -- classrooms and courses -------------------------------------------------------


def classroom_deleted(name):
    return f"Classroom {name} deleted. Its people stay in the organization."


def course_deleted(name):
    return f"Course {name} deleted."


def settings_saved():
    return "Settings saved."


def courses_saved(classroom, courses):
    if not courses:
        return f"Courses saved: {classroom.name} enrolls its people in no course now."
    names = ", ".join(c.name for c in courses)
    return f"Courses saved: {classroom.name} enrolls its people in {names}."


def picked(candidate, here):
    """A person as a staff picker lists them: who is staff already says so, and
    who holds this very role (`here`: "leads this classroom")."""
    label = f"{candidate.user.name} ({candidate.user.email})"
    if candidate.here:
        return f"{label} · {here} already"
    if candidate.staff:
        return f"{label} · staff"
    return label


def more_to_pick(shown, total):
    if total <= shown:
        return ""
    return f"Showing {shown} of {plural(total, 'person', 'people')}: search to find the others."


def leader_added(user, classroom, added):
    if not added:
        return f"{user.name} already leads {classroom.name}: nothing was changed."
    return f"{user.name} now leads {classroom.name}."


def leader_removed(user, classroom):
    return f"{user.name} no longer leads {classroom.name}."


def instructor_added(user, course, added):
    if not added:
        return f"{user.name} already teaches {course.name}: nothing was changed."
    return f"{user.name} now teaches {course.name}."


def instructor_removed(user, course):
    return f"{user.name} no longer teaches {course.name}."


def renamed(name):
    return f"Renamed to {name}."


def person_invited(invitation, org):
    return (
        f"We sent an invitation to {invitation.email}. They become one of {org.name}'s "
        f"people when they accept it."
    )


def join_code_changed(code):
    return f"The join code is now {code.text}. The old one no longer works."


def allotment_saved(classroom):
    if classroom.seat_allotment is None:
        return f"{classroom.name} has no seat allotment now."
    return f"{plural(classroom.seat_allotment, 'seat is', 'seats are')} allotted to {classroom.name}."


# -- people -----------------------------------------------------------------------


def moved(person, source, target):
    return f"{person.name} moved from {source.name} to {target.name}."


def placed(person, target):
    return f"{person.name} placed in {target.name}."


def removed(person, classroom):
    return f"{person.name} removed from {classroom.name}."


# -- parents ----------------------------------------------------------------------


def parent_code_made(made, retired, limit):
    said = (
        f"Your new parent code is {made.text}. Give it to your parent or guardian: it works "
        f"once, for 14 days."
    )
    if retired:
        texts = ", ".join(code.text for code in retired)
        said += (
            f" You may have {plural(limit, 'code')} at a time, so the oldest, "
            f"{texts}, {choose(len(retired), 'was', 'were')} cancelled and no longer "
            f"{choose(len(retired), 'works', 'work')}."
        )
    return said


def parent_code_cancelled(parent_code):
    return f"The parent code {parent_code.text} no longer works."


def parents_can_see(classroom):
    if classroom.parents_can_see:
        return f"Parents of {classroom.name}'s students now see its classroom and courses."
    return f"Parents of {classroom.name}'s students no longer see its classroom and courses."


def link_revoked(link):
    return f"{link.parent.name} is no longer linked to {link.student.name}."


# -- approval and the leak guard ------------------------------------------------


def request_answered(decision, person):
    """What accepting or declining one request did, for the staff who did it."""
    if decision.state == ACCEPTED:
        return f"{person.name} is in: their request was accepted."
    if decision.state == DECLINED:
        return f"{person.name}'s request was declined."
    if decision.state == REFUSED:
        return f"{person.name}'s request could not be accepted: {decision.reason}"
    return f"{person.name}'s request was answered already."


def requests_answered(decisions):
    """What accepting or declining all the requests of a code did."""
    by_state = {}
    for d in decisions:
        by_state.setdefault(d.state, []).append(d)
    parts = []
    if by_state.get(ACCEPTED):
        parts.append(f"{plural(len(by_state[ACCEPTED]), 'request')} accepted.")
    if by_state.get(DECLINED):
        parts.append(f"{plural(len(by_state[DECLINED]), 'request')} declined.")
    refused = by_state.get(REFUSED, [])
    if refused:
        reasons = sorted({d.reason for d in refused})
        parts.append(f"{plural(len(refused), 'request')} could not be accepted: {' '.join(reasons)}")
    if by_state.get(""):
        parts.append(f"{plural(len(by_state['']), 'request was', 'requests were')} answered already.")
    return " ".join(parts) or "No request was waiting."


def per_hour(rate):
    """A rate of redemptions an hour as a person reads it: whole from 10 on, one
    decimal from 1, else two significant figures (0.5, 0.07, 0.003)."""
    if rate >= 10:
        return f"{rate:.0f}"
    if rate >= 1:
        return f"{rate:.1f}".removesuffix(".0")
    return f"{rate:.2g}"


def surge(count, usual, within="in the last hour"):
    """What the usual-rate guard saw: "12 redemptions in the last hour, against
    a usual 0.5 an hour". A usual rate of none is of a code whose redemptions
    all came before the two weeks it is measured over."""
    if not usual:
        return f"{plural(count, 'redemption')} {within}, against none in the two weeks before"
    return f"{plural(count, 'redemption')} {within}, against a usual {per_hour(usual)} an hour"


def spike_warning(code, org_time):
    """The warning staff read on a code the leak guard switched to approval."""
    if code.spike_reason == SPIKE_DOMAIN:
        why = f"someone whose address is not {' or '.join('@' + d for d in code.expected)} redeemed it"
    elif code.spike_reason == SPIKE_SURGE:
        why = f"it had {surge(code.spike_count or 0, code.spike_usual or 0, 'within an hour')}"
    else:
        why = f"it was redeemed more than {plural(code.hourly_limit or 0, 'time')} within an hour"
    return (
        f"This code may have leaked: {why}, so since {org_time} it asks you to approve each "
        f"person. Rotate it to give it a new text, and review who joined since then."
    )


def code_rotated(code, old_text):
    return f"Code {old_text} is now {code.text}. The old text no longer works: share the new one."


def spike_dismissed(code):
    return f"Warning dismissed. Code {code.text} still asks for approval until you turn that off."


def my_request(r, when):
    """A person's request as their profile says it (approval.MyRequest)."""
    if r.state == PENDING and r.code_gone:
        return (
            f"{r.code_text} at {r.org_name}: the code is no longer valid, so this request will "
            f"not be answered."
        )
    if r.state == PENDING:
        return f"{r.code_text} at {r.org_name}: waiting for approval since {when}."
    if r.state == ACCEPTED:
        return f"{r.code_text} at {r.org_name}: accepted on {when}."
    if r.state == DECLINED:
        return f"{r.code_text} at {r.org_name}: declined on {when}."
    return f"{r.code_text} at {r.org_name}: could not be accepted on {when}. {r.reason}"


def seat_forecast(forecast, day):
    """When the license runs out at the rate of the last 30 days
    (codes.seats.forecast.SeatForecast); `day` is runs_out_at as the
    organization reads it."""
    if forecast.left == 0:
        return f"All {plural(forecast.limit, 'seat')} of the license are taken."
    left = plural(forecast.left, "seat")
    if forecast.recent == 0:
        return f"No seat was taken in the last 30 days: at that rate the {left} left last."
    recent = plural(forecast.recent, "new seat")
    if forecast.days_left == 0:
        when = "today"
    else:
        when = f"in about {plural(forecast.days_left, 'day')}, around {day}"
    return f"At the rate of the last 30 days ({recent}), the {left} left run out {when}."


def seat_forecast_warning(forecast, admin):
    """The warning when, at that rate, the seats run out within 30 days."""
    ask = (
        "Raise the seat limit in Settings below" if admin else "Ask an administrator to raise the seat limit"
    )
    return f"At this rate the license runs out within 30 days. {ask} before new students are refused."


def expected_added(added, classroom):
    """What adding a list of expected people did (expected.operations.Added)."""
    said = f"{plural(added.added, 'person', 'people')} added to those {classroom.name} expects."
    if added.already:
        said += f" {plural(added.already, 'was', 'were')} expected already."
    return said


def expected_removed(expected, classroom):
    return f"{expected.email} is no longer expected in {classroom.name}."


def parent_letters_mail(teacher_name, org_name, room_name, count, expires):
    """The subject and text of the mail that carries a classroom's parent letters."""
    return (
        f"Parent letters for {room_name}",
        f"Hello {teacher_name},\n\n"
        f"Attached are the parent letters for the {plural(count, 'student')} of {room_name} "
        f"({org_name}): one page per student, with a parent code, its link, a QR code and "
        f"instructions. Each code links one parent, once, until {expires}.\n\n"
        f"Print them and give each student their own page.\n",
    )


def letters_on_their_way(email):
    return f"The letters are on their way to {email} as well; the download has them all now."


def delivery_retried(job_recipient):
    return f"The mail to {job_recipient} is queued again."


def digest_mail(name, org_name, day, joined):
    """A daily digest: who joined the organization on that day (joined: pairs of
    a person's name and where they joined)."""
    lines = "\n".join(f"- {who}: {where}" for who, where in joined)
    return (
        f"{org_name}: {plural(len(joined), 'person', 'people')} joined on {day}",
        f"Hello {name},\n\n{plural(len(joined), 'person', 'people')} joined {org_name} on {day} (UTC):\n\n"
        f"{lines}\n",
    )


def seat_alert_mail(name, org_name, out, free, limit, page):
    """An alert to an admin: the organization's free seats fell under a tenth of
    its limit, or ran out."""
    if out:
        subject = f"{org_name} has no seats left"
        said = f"{org_name} has no free seats left: new students can't join until seats are added."
    else:
        subject = f"{org_name}: {plural(free, 'seat')} left"
        said = f"{org_name} has {plural(free, 'free seat')} left of its {limit}."
    return subject, f"Hello {name},\n\n{said}\n\nSeats: {page}\n"


def code_alert_mail(name, org_name, code_text, used, uses, max_uses, page):
    """An alert to a code's staff: it reached 80% or all of its uses."""
    if used:
        subject = f"Code {code_text} is used up"
        said = (
            f"The code {code_text} has reached its limit of {plural(max_uses, 'use')}: "
            f"it lets nobody else in."
        )
    else:
        subject = f"Code {code_text}: {uses} of {max_uses} uses"
        said = (
            f"The code {code_text} has been used {plural(uses, 'time')} of its {max_uses}: "
            f"{plural(max_uses - uses, 'use')} left."
        )
    return subject, f"Hello {name},\n\n{said}\n\nThe code's report: {page}\n"


def burst_alert_mail(name, org_name, count, minutes, code_text, page):
    """An alert to an organization's admins: many attempts at its codes failed
    within a few minutes, perhaps someone guessing or a code passed around."""
    return (
        f"{org_name}: {count} failed code attempts in {plural(minutes, 'minute')}",
        f"Hello {name},\n\n{plural(count, 'attempt')} at {org_name}'s codes didn't work within "
        f"{plural(minutes, 'minute')}, the latest at the code {code_text}. Someone may be guessing "
        f"codes, or an old code may be going around.\n\nWho tried what is in the audit log: {page}\n",
    )


def approval_alert_mail(name, org_name, code_text, reason, page, count=None, usual=None):
    """An alert to a code's staff: the leak guard switched it to approval mode
    (for SPIKE_SURGE, `count` in the last hour against the `usual` rate)."""
    if reason == SPIKE_DOMAIN:
        why = "someone whose email is not from a domain you expect tried to join through it"
    elif reason == SPIKE_SURGE:
        why = f"{surge(count or 0, usual or 0)}, far more than it usually has"
    else:
        why = "more people joined through it within an hour than its hourly limit"
    return (
        f"Code {code_text} is waiting for approval",
        f"Hello {name},\n\nThe code {code_text} switched itself to approval mode: {why}. "
        f"Everyone who uses it now waits until you accept or decline their request.\n\n"
        f"The requests and the code's page: {page}\n",
    )


def welcome_mail(name, org_name, classroom_names, page):
    """The welcome to a student who joined classrooms through a code."""
    rooms = ", ".join(classroom_names)
    return (
        f"Welcome to {org_name}",
        f"Hello {name},\n\nWelcome to {org_name}: you joined {rooms}.\n\n"
        f"Your classrooms and courses are on your profile: {page}\n",
    )


def alerts_set(on):
    return (
        "You will get alerts about seats and codes."
        if on
        else "You will get no alerts about seats and codes."
    )


def welcome_set(on):
    return (
        "Students who join a classroom through a code get a welcome mail."
        if on
        else "Students who join a classroom get no welcome mail."
    )


def digest_set(on):
    return "You will get the daily digest of who joined." if on else "You will get no daily digest."


def unsubscribed(org_name, kind="digest"):
    what = "daily digests" if kind == "digest" else "alerts about seats and codes"
    return f"You will get no more {what} from {org_name}. Turn them back on in its notification settings."


def unsubscribed_rooms(org_name, room_names):
    """After the one-click unsubscribe of an alert about a code of these classrooms."""
    if not room_names:
        return f"That classroom of {org_name} is gone: no more alerts about its codes will come."
    return (
        f"You will get no more alerts about the codes of {', '.join(room_names)} from {org_name}. "
        "Turn them back on in its notification settings."
    )


def room_choice_unknown():
    return "Choose one of: as for the organization, on, off."


def room_choices_set(room_name):
    return f"Saved your choices for {room_name}."


def unsubscribe_link_invalid():
    return "That link is not valid. Turn these mails off in the organization's notification settings."


def membership_ending_mail(name, org_name, room_name, day, page):
    """To a person whose membership a code's duration ends in a few days."""
    return (
        f"Your place in {room_name} ends on {day}",
        f"Hello {name},\n\nYour place in {room_name} at {org_name} ends on {day}. "
        f"After that you are no longer in {room_name}; your courses stay. "
        f"To stay longer, ask whoever runs it.\n\nYour profile: {page}\n",
    )


def memberships_ending_mail(name, org_name, room_name, people):
    """To a classroom's staff: whose membership ends in a few days, with when."""
    listed = "\n".join(f"- {person}: {day}" for person, day in people)
    return (
        f"{plural(len(people), 'place')} in {room_name} {choose(len(people), 'ends', 'end')} soon",
        f"Hello {name},\n\nThese places in {room_name} at {org_name} end soon, "
        f"as the codes used give:\n\n{listed}\n",
    )


def membership_given(code, until_day):
    """How long a code's classroom membership lasts, for its pages; '' for no end."""
    if code.member_days is not None:
        return f"membership for {plural(code.member_days, 'day')}"
    return f"membership until {until_day}" if until_day else ""


def export_asked(email, label):
    """What a person is told once their big export is queued."""
    return (
        f"The {label} export is being prepared. A link to download it will be mailed to {email} "
        f"when it is ready; it is listed under My exports meanwhile."
    )


def export_too_big(count_cap, label):
    """Why a big export is not downloaded straight away."""
    return (
        f"This {label} export has more than {count_cap:,} rows: too many to download straight away. "
        f"The file can be prepared in the background and a link to it mailed to you."
    )


def exports_waiting(count):
    return (
        f"You have {plural(count, 'export')} being prepared already. "
        f"Wait for one of them to be ready, then ask again."
    )


def export_ready_mail(name, org_name, label, rows, link, expires, page):
    """The mail that a big export asked for is ready, with its link."""
    return (
        f"Your {label} export of {org_name} is ready",
        f"Hello {name},\n\nThe {label} export you asked for is ready: {plural(rows, 'row')}.\n\n"
        f"Download it (you need to be logged in): {link}\n\n"
        f"The link works until {expires}; then the file is deleted.\n\n"
        f"Your exports: {page}\n",
    )
