"""Schemathesis hooks: every request is made as the fuzzing admin, signed in again every few
seconds, so a generated call that ends that session (a revocation fed a token or user id seen
in an earlier answer) costs a moment of 401s rather than the rest of the run."""

import os

import requests
import schemathesis

URL = os.environ["FUZZ_URL"]
EMAIL = os.environ["FUZZ_EMAIL"]
PASSWORD = os.environ["FUZZ_PASSWORD"]


@schemathesis.auth(refresh_interval=3)
class FuzzAdmin:
    def get(self, case, ctx):
        answer = requests.post(
            f"{URL}/api/auth/sign-in/email",
            json={"email": EMAIL, "password": PASSWORD},
            headers={"Origin": URL},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["token"]

    def set(self, case, token, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
