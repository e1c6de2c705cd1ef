from django.urls import path

from . import views

urlpatterns = [
    path("oai", views.oai_pmh, name="oai-pmh"),
    path("datasets/<str:pid>/datacite.xml", views.datacite_xml, name="dataset-datacite-xml"),
    path("datasets/<str:pid>/datacite.json", views.datacite_json, name="dataset-datacite-json"),
]
