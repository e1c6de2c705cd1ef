"""Events other apps may listen to, so that the repository does not import the apps above it
(the usage statistics count downloads; ``publishing`` keeps the DOIs in step).

The dataset events are sent by ``repository.services`` and ``repository.versions`` inside
their transactions, with ``sender`` the :class:`~repository.models.Dataset` class: a receiver
that writes rows writes them in the same transaction, and one that talks to another service
does so on commit (``transaction.on_commit``). An exception in a receiver undoes the change.
"""

from django.dispatch import Signal

# Sent with ``request`` and ``datafile`` when a download of a file starts (a GET without a
# range, or from byte 0; not once per ranged chunk), before the bytes or the redirect go out.
file_download_started = Signal()

# Sent with ``dataset`` once a dataset was created (with its open draft).
dataset_created = Signal()

# Sent with ``dataset`` and ``version`` (the version just frozen) when a dataset was published.
dataset_published = Signal()

# Sent with ``dataset`` when who may see a published dataset changed: its visibility or
# embargo was set, or its embargo was released.
dataset_visibility_changed = Signal()

# Sent with ``dataset`` and ``version`` when a published version was withdrawn (the dataset's
# status says whether the whole dataset went with it).
version_withdrawn = Signal()
