from django.urls import path

from . import formats, views

_exports = [
    (f"{fmt.filename}", fmt.filename, fmt.key)
    for fmt in formats.FORMATS
    if fmt.filename != "citation.bib"  # /datasets/<pid>/citation.bib is the landing page's own
]

urlpatterns = [
    path("oai", views.oai_pmh, name="oai-pmh"),
    path("sitemap.xml", views.sitemap_index, name="sitemap-index"),
    path("sitemap-<str:section>.xml", views.sitemap_section, name="sitemap-section"),
    path("robots.txt", views.robots_txt, name="robots-txt"),
    *(
        path(
            f"datasets/<str:pid>/{filename}",
            views.metadata_export,
            {"filename": filename},
            name=f"dataset-{key}",
        )
        for filename, _, key in _exports
    ),
    *(
        path(
            f"datasets/<str:pid>/v/<int:number>/{fmt.filename}",
            views.metadata_export,
            {"filename": fmt.filename},
            name=f"version-{fmt.key}",
        )
        for fmt in formats.FORMATS
    ),
    path("datasets/<str:pid>/linkset", views.linkset, name="dataset-linkset"),
    path("datasets/<str:pid>/linkset.json", views.linkset_json, name="dataset-linkset-json"),
    path("datasets/<str:pid>/v/<int:number>/linkset", views.linkset, name="version-linkset"),
    path(
        "datasets/<str:pid>/v/<int:number>/linkset.json",
        views.linkset_json,
        name="version-linkset-json",
    ),
    path("datasets/<str:pid>/bag.zip", views.bag, name="dataset-bag"),
    path("datasets/<str:pid>/v/<int:number>/bag.zip", views.bag, name="version-bag"),
    path(
        "datasets/<str:pid>/v/<int:number>/files/<path:path>",
        views.version_file,
        name="version-file",
    ),
]
