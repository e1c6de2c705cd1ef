from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from repository import views as repository_views

urlpatterns = [
    path("", repository_views.home, name="home"),
    path("datasets/<str:pid>/", repository_views.dataset_detail, name="dataset-detail"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
