"""Events other apps may listen to (the usage statistics count downloads from here), so that
the repository does not import the apps above it."""

from django.dispatch import Signal

# Sent with ``request`` and ``datafile`` when a download of a file starts (a GET without a
# range, or from byte 0; not once per ranged chunk), before the bytes or the redirect go out.
file_download_started = Signal()
