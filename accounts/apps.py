from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and people"

    def ready(self) -> None:
        from allauth.socialaccount.signals import social_account_added

        from . import services

        def record(request: object, sociallogin: object, **kwargs: object) -> None:
            account = sociallogin.account  # type: ignore[attr-defined]
            services.identity_linked(user=account.user, social_account=account)

        # allauth has no adapter hook for linking; the audit entry is all this does.
        social_account_added.connect(record, weak=False, dispatch_uid="accounts.identity_linked")
