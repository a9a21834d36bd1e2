"""Command-line tasks: flask --app wsgi create-admin / seed-demo."""

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .access import Scope
from .auth.operations import create_user, find_user
from .errors import FieldErrors
from .extensions import db
from .invitations import operations as invitations
from .jobs.worker import jobs_cli
from .manage.operations import CodeInput, create_code
from .models import Organization
from .orgs import operations as orgs

DEMO_ORG = "Maple High School"
DEMO_PASSWORD = "demo-password"
DEMO_PEOPLE = [
    ("admin@maple.example", "Ada Admin"),
    ("teacher@maple.example", "Theo Teacher"),
    ("leader@maple.example", "Lena Leader"),
    ("student@maple.example", "Sam Student"),
]


def init_app(app):
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_demo)
    app.cli.add_command(jobs_cli)


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option("--org", "org_name", prompt="Organization")
@click.option("--timezone", default="UTC", show_default=True)
@click.password_option()
@with_appcontext
def create_admin(email, name, org_name, timezone, password):
    """Make an account (or use an existing one) the admin of a new organization."""
    user = find_user(email)
    try:
        if user is None:
            user = create_user(name, email, password, verified=True)
        org = orgs.create_organization(user, org_name, timezone)
    except FieldErrors as e:
        db.session.rollback()
        raise click.ClickException(" ".join(e.errors.values())) from None
    db.session.commit()
    click.echo(f"{user.email} is the admin of {org.name} (organization {org.id}).")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Load a demo organization once, and print its logins."""
    if db.session.scalar(select(Organization).where(Organization.name == DEMO_ORG)) is None:
        people = {
            email: create_user(name, email, DEMO_PASSWORD, verified=True) for email, name in DEMO_PEOPLE
        }
        admin = people["admin@maple.example"]
        org = orgs.create_organization(
            admin, DEMO_ORG, "America/New_York", seat_limit=200, default_code_days=14
        )
        for email in ("teacher@maple.example", "leader@maple.example"):
            # As each would by following their invitation's link.
            invitations.accept(people[email], invitations.invite(admin, org, email), via_link=True)
        algebra = orgs.create_course(admin, org, "Algebra I")
        biology = orgs.create_course(admin, org, "Biology")
        homeroom = orgs.create_classroom(admin, org, "Homeroom 9A")
        orgs.create_classroom(admin, org, "Homeroom 9B")
        orgs.set_classroom_courses(admin, homeroom, [algebra.id, biology.id])
        orgs.add_leader(admin, homeroom, people["leader@maple.example"].id)
        orgs.add_instructor(admin, algebra, people["teacher@maple.example"].id)
        create_code(
            admin,
            Scope(admin, org),
            CodeInput(text="MAPLE-9A-2027", classroom_ids=[homeroom.id], max_uses=30),
        )
        db.session.commit()
        click.echo(f"Loaded the demo organization {DEMO_ORG}.")
    click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
    for email, name in DEMO_PEOPLE:
        click.echo(f"  {email:28} {name}")
    click.echo("Try the code MAPLE-9A-2027 as the student.")
