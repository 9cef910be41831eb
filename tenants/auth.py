"""Log in with an email address (case-insensitive) and password."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        email = (username or kwargs.get("email") or "").strip()
        if not email or password is None:
            return None
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).order_by("id").first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing hint that the email is unknown
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
