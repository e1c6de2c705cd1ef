from django.urls import path

from . import views

urlpatterns = [
    path("stats/", views.stats_home, name="stats"),
    path("stats/openem-stats.json", views.stats_json, name="stats-json"),
    path("stats/<slug:table>.csv", views.stats_csv, name="stats-csv"),
    path("stats/charts/<slug:name>.svg", views.stats_chart, name="stats-chart"),
]
