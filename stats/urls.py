from django.urls import path

from . import plot_views, views

urlpatterns = [
    path("stats/", views.stats_home, name="stats"),
    path("stats/openem-stats.json", views.stats_json, name="stats-json"),
    path("stats/<slug:table>.csv", views.stats_csv, name="stats-csv"),
    path("stats/charts/<slug:name>.svg", views.stats_chart, name="stats-chart"),
    # a dataset's plots (its landing page shows them, with their numbers as tables)
    path(
        "datasets/<str:pid>/plots/<slug:key>.<str:extension>",
        plot_views.dataset_plot,
        name="dataset-plot",
    ),
]
