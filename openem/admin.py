"""The Django admin for site admins only.

Django lets any ``is_staff`` account in and then narrows by model permissions; here facility
staff are not site staff, and a stray ``is_staff`` flag must not open the audit trail or the
users' table, so the site asks for a superuser.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.http import HttpRequest


class AdminSite(admin.AdminSite):
    site_header = "OpenEM portal administration"
    site_title = "OpenEM admin"
    index_title = "Site administration (superusers only)"
    site_url = "/"
    # The app sidebar took a quarter of a laptop's width beside the change lists, squeezing
    # the dataset list under its filters; the index page lists the same models.
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)


class AdminConfig(DjangoAdminConfig):
    default_site = "openem.admin.AdminSite"
