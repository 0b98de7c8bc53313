"""Writes on users: creating demo users and changing roles."""

import logging

from accounts.models import User
from common.exceptions import ApplicationError

# Security-relevant changes (who gave whom which role) go to their own logger, so deployments can route them to
# an append-only sink apart from the application log.
audit_logger = logging.getLogger("valueflow.audit")


def user_create(*, username: str, password: str, role: str, email: str = "") -> User:
    if role not in User.Role.values:
        raise ApplicationError(f"Unknown role {role!r}; expected one of {', '.join(User.Role.values)}.")
    user = User(username=username, email=email, role=role, is_staff=role == User.Role.ADMIN)
    user.set_password(password)
    user.save()
    return user


def user_ensure(*, username: str, password: str, role: str, email: str = "") -> tuple[User, bool]:
    """Create the user if missing; an existing user keeps their password. Returns (user, created)."""
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing, False
    return user_create(username=username, password=password, role=role, email=email), True


def user_role_set(*, user: User, role: str, changed_by: User) -> User:
    """Give `user` a new role; admins also get staff access to the Django admin. Every change is audit-logged."""
    if role not in User.Role.values:
        raise ApplicationError(f"Unknown role {role!r}; expected one of {', '.join(User.Role.values)}.")
    if user.pk == changed_by.pk and role != User.Role.ADMIN:
        raise ApplicationError("Admins cannot remove their own admin role; ask another admin.")
    previous_role = user.role
    if previous_role == role:
        return user
    user.role = role
    user.is_staff = role == User.Role.ADMIN
    user.save(update_fields=["role", "is_staff"])
    audit_logger.info(
        "role changed: user=%s (id %s) from=%s to=%s by=%s (id %s)",
        user.username,
        user.pk,
        previous_role,
        role,
        changed_by.username,
        changed_by.pk,
    )
    return user
