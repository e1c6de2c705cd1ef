from django.urls import path

from . import views

urlpatterns = [
    path(
        "datasets/<str:pid>/doi/<int:registration_id>/retry",
        views.doi_retry,
        name="doi-retry",
    ),
]
