"""The upload API: sessions, batch registration, S3 multipart, local chunks, ingest status.

Views parse input with ``ingest.serializers``, call one service of ``ingest.uploads`` (which
asks ``repository.access`` who may upload) or one selector, and render. Errors become the one
JSON shape in ``openem.api.exceptions``.

On S3 storage the bytes never pass through the portal: a client starts a multipart upload per
file, asks for presigned part URLs (many per request), PUTs the parts straight to the bucket and
completes. On local storage (the embedded default) it PUTs chunks to the file's content
endpoint. Either way an interrupted upload resumes: list the parts S3 holds, or ask the content
endpoint for its offset.
"""
