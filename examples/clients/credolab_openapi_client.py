"""A Credolab client generated from openapi/credolab.yaml, driven against the mock.

Usage: credolab_openapi_client.py BASE_URL   (e.g. http://127.0.0.1:8080/credolab)

It generates a typed Python client from the OpenAPI document with openapi-python-client (a
standard generator, from PyPI) into a temporary folder, imports it, and uses only what was
generated: log in with the default subscription user, fetch a dataset insight with the
token, refresh the token pair, read insights v1 with the Requester key, and meet the
documented refusals as the typed problem models the document declares. Nothing here knows
the mock's paths or body shapes: they all come from the document.

Prints "all documented cases behave" when every case does; exits non-zero otherwise.
"""

import datetime
import importlib
import pathlib
import subprocess
import sys
import tempfile

DOCUMENT = pathlib.Path(__file__).resolve().parents[2] / "openapi" / "credolab.yaml"


def generate(into: pathlib.Path) -> None:
    """Run the generator on the document, as a user would on the command line."""
    config = into / "config.yaml"
    # No post hooks: the generator's default formats the code with ruff, which is not needed here.
    config.write_text("post_hooks: []\nproject_name_override: credolab_client\npackage_name_override: credolab_client\n")
    out = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(DOCUMENT), "--config", str(config),
         "--output-path", str(into / "credolab_client"), "--meta", "none"],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"the generator failed on {DOCUMENT}:\n{out.stdout}\n{out.stderr}")


def dotnet_time(s: str) -> datetime.datetime:
    """`2026-01-15T10:00:00.0000000Z`: .NET's seven fractional digits, cut to Python's six."""
    head, frac = s.rstrip("Z").split(".")
    return datetime.datetime.fromisoformat(f"{head}.{frac[:6]}+00:00")


def main(base: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate(pathlib.Path(tmp))
        sys.path.insert(0, tmp)
        run(base)


def run(base: str) -> None:
    client_mod = importlib.import_module("credolab_client")
    m = importlib.import_module("credolab_client.models")
    login = importlib.import_module("credolab_client.api.accounts.login")
    refresh_token = importlib.import_module("credolab_client.api.accounts.refresh_token")
    get_dataset_insight = importlib.import_module("credolab_client.api.datasets.get_dataset_insight")
    iovation = importlib.import_module("credolab_client.api.datasets.iovation_fraud_check")
    get_insights = importlib.import_module("credolab_client.api.api_keys.get_insights")

    anonymous = client_mod.Client(base_url=base)

    # Log in with the subscription credentials: a typed token pair.
    pair = login.sync(client=anonymous, body=m.LoginRequest(user_email="test@example.com", password="test-password"))
    assert isinstance(pair, m.TokenPair), pair
    assert pair.token_type == "bearer", pair
    lifetime = dotnet_time(pair.expires) - dotnet_time(pair.issued)
    assert lifetime == datetime.timedelta(minutes=60), (pair.issued, pair.expires)
    print("login: a bearer token for 60 minutes")

    # Fetch a dataset insight with the token.
    authed = client_mod.AuthenticatedClient(base_url=base, token=pair.access_token)
    insight = get_dataset_insight.sync(client=authed, reference_number="android-12345678")
    assert isinstance(insight, m.DatasetInsight), insight
    assert insight.dataset_info.reference_number == "android-12345678"
    assert insight.dataset_info.source == m.Source.VALUE_0, insight.dataset_info.source
    assert insight.requestor == "test@example.com"
    assert [s.code for s in insight.scores] == ["SC01", "SC02"], insight.scores
    assert all(300 <= s.value <= 850 and 0 <= s.probability <= 1 for s in insight.scores)
    kinds = [type(f).__name__ for f in insight.fragments]
    assert kinds == ["VelocityFragment", "DeviceInfoFragment", "AndroidPermissionFragment", "DeviceFragment"], kinds
    device_info, device = insight.fragments[1], insight.fragments[3]
    assert device.value.device_id == device_info.value.device_id, (device, device_info)
    assert all(p.state in (None, "0", "1") for p in insight.fragments[2].value)
    print(f"datasetinsight: {kinds}, SC01 {insight.scores[0].value}")

    ios = get_dataset_insight.sync(client=authed, reference_number="ios-123456789")
    kinds = [type(f).__name__ for f in ios.fragments]
    assert kinds == ["IosPermissionFragment", "DeviceInfoFragment", "VelocityFragment", "DeviceFragment"], kinds
    assert isinstance(ios.fragments[2].value, list), ios.fragments[2]
    print("datasetinsight (iOS): the document's iOS shapes")

    # The documented dataset errors arrive as their typed problems.
    removed = get_dataset_insight.sync(client=authed, reference_number="removed-1")
    assert isinstance(removed, m.DatasetRemoved) and removed.title == "dataset_removed", removed
    missing = get_dataset_insight.sync(client=authed, reference_number="notfound-1")
    assert isinstance(missing, m.ReferenceNumberInvalid), missing
    print("datasetinsight: dataset_removed and reference_number_invalid as typed problems")

    # No token: 401 (no body), as the document says.
    detailed = get_dataset_insight.sync_detailed(client=anonymous, reference_number="android-12345678")
    assert detailed.status_code == 401 and detailed.parsed is None, detailed
    assert detailed.headers["www-authenticate"] == "Bearer", detailed.headers
    print("datasetinsight without a token: 401 with a Bearer challenge")

    # An Iovation fraud check with the same token.
    check = iovation.sync(
        client=authed, reference_number="android-12345678", ruleset_id="DEFAULT",
        body=m.IovationFraudCheckRequest(
            iovation_request_params=m.IovationFraudCheckRequestIovationRequestParams(account_code="acc-1")),
    )
    assert isinstance(check, m.IovationFraudCheck), check
    assert check.account_code == "acc-1" and check.value.account_code == "acc-1", check
    assert check.value.result.value in ("A", "R", "D"), check.value.result
    print(f"iovation: result {check.value.result.value}")

    # Refresh: a new pair; the used refresh token is refused the second time.
    fresh = refresh_token.sync(client=anonymous, body=m.RefreshTokenRequest(refresh_token=pair.refresh_token))
    assert isinstance(fresh, m.TokenPair) and fresh.access_token != pair.access_token, fresh
    again = refresh_token.sync(client=anonymous, body=m.RefreshTokenRequest(refresh_token=pair.refresh_token))
    assert isinstance(again, m.RefreshTokenInvalid), again
    print("refreshToken: a new pair, then refresh_token_invalid on reuse")

    # Wrong credentials: the documented problems, typed.
    wrong = login.sync(client=anonymous, body=m.LoginRequest(user_email="test@example.com", password="nope"))
    assert isinstance(wrong, m.PasswordInvalid), wrong
    unknown = login.sync(client=anonymous, body=m.LoginRequest(user_email="example@ww.ww", password="TestPasswordValue"))
    assert isinstance(unknown, m.UserEmailInvalid), unknown
    print("login: password_invalid and user_email_invalid as typed problems")

    # Insights v1 with the Requester key, filtered by tag.
    requester = client_mod.AuthenticatedClient(base_url=base, token="test-requester-key")
    v1 = get_insights.sync(client=requester, reference_number="android-12345678", tags=["fraud"])
    assert isinstance(v1, m.Insights), v1
    assert v1.scores == [] and [i.code for i in v1.insights] == ["velocity"], v1
    # The tags sit beside the fragment's own keys (the generator keeps them as extra properties).
    assert v1.insights[0]["tags"] == ["fraud", "velocity"], v1.insights[0]
    print("insights v1: filtered by tag")

    print("all documented cases behave")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1].rstrip("/"))
