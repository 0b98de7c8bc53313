from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class ValueFlowUserAdmin(UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("ValueFlow", {"fields": ("role",)}))
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
