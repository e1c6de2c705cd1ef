from django.core.management.base import BaseCommand

from demo.seed import load_demo


class Command(BaseCommand):
    help = "Load the demo facility, users (one per role) and datasets with small real-format files."

    def handle(self, *args: object, **options: object) -> None:
        load_demo(stdout=self.stdout.write)
