from django.urls import path

from . import views

urlpatterns = [
    path(
        "datasets/<str:pid>/metadata/edit",
        views.dataset_metadata_edit,
        name="dataset-metadata-edit",
    ),
]
