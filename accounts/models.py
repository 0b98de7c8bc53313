"""ValueFlow users and their role: annotator, researcher or admin."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        RESEARCHER = "researcher", "Researcher"
        ADMIN = "admin", "Admin"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    @property
    def is_platform_admin(self) -> bool:
        return self.is_active and (self.role == self.Role.ADMIN or self.is_superuser)

    @property
    def is_researcher(self) -> bool:
        """Researchers manage data, campaigns, fits and exports; admins may do everything researchers do."""
        return self.is_active and (self.role == self.Role.RESEARCHER or self.is_platform_admin)

    @property
    def is_annotator(self) -> bool:
        return self.is_active and self.role == self.Role.ANNOTATOR
