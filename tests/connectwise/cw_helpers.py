"""Shared test helpers for the ConnectWise connector and sandbox: a contract-checking transport.

The contract is ``tests/connectwise/spec/connectwise-manage-openapi.json`` (the reference's OpenAPI subset), validated with openapi-core.
Three documented adaptations of that file's *extraction artefacts* are made on a copy (each asserted, so a
fixed spec makes the test say so):

1. Response media types carry the version of the source they were cut from (``version=2026.4`` for GETs,
   ``2025.8`` for the rest). ConnectWise answers in the version the client pins, so every response media
   type is also accepted under the client's pinned version (same schema).
2. ``PatchOperation.value`` is ``type: object`` (the generator's rendering of C# ``object``, i.e. any value);
   the reference itself shows ``"value": 42``. It is widened to "any value".
3. Multipart fields are text on the wire; they are cast to the ``DocumentFormData`` property types
   (integer, boolean) before validation, as any multipart consumer does.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from seatsync.connectors.connectwise import API_VERSION

#: a copy of the project reference (shared/reference), kept with the tests: nothing is read from outside the repository
SPEC_PATH = Path(__file__).resolve().parent / "spec" / "connectwise-manage-openapi.json"
VND = "application/vnd.connectwise.com+json"

#: the error bodies the reference describes (not in the OpenAPI subset, which lists success answers only)
ERROR_BODY = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {k: {"type": ["string", "null"]} for k in ("code", "message", "resource", "field")},
            },
        },
    },
}
RATE_LIMIT_BODY = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def adapted_spec() -> dict[str, Any]:
    spec = copy.deepcopy(load_spec())
    pinned = f"{VND}; version={API_VERSION}"
    for item in spec["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                for media in [m for m in content if m.startswith(VND + "; version=")]:
                    content.setdefault(pinned, content[media])
    value = spec["components"]["schemas"]["PatchOperation"]["properties"]["value"]
    assert value == {"type": "object"}, "PatchOperation.value changed in the spec: revisit adaptation 2"
    spec["components"]["schemas"]["PatchOperation"]["properties"]["value"] = {}
    spec["servers"] = [
        {
            "url": "{origin}/{codebase}/apis/3.0",
            "variables": {
                "origin": {"default": "https://na.myconnectwise.net"},
                "codebase": {"default": "v4_6_release"},
            },
        }
    ]
    return spec


def _multipart_loads(value: bytes, **parameters: str) -> ImmutableMultiDict[str, Any]:
    header = f'Content-Type: multipart/form-data; boundary="{parameters["boundary"]}"\r\n\r\n'.encode()
    message = BytesParser(policy=HTTP).parsebytes(header + value)
    properties = load_spec()["components"]["schemas"]["DocumentFormData"]["properties"]
    fields: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload: bytes = part.get_payload(decode=True)
        kind = properties.get(name, {}).get("type")
        if kind == "string" and properties[name].get("format") == "binary":
            fields.append((name, payload))
            continue
        text = payload.decode()
        if kind == "integer" and re.fullmatch(r"-?\d+", text):
            fields.append((name, int(text)))
        elif kind == "boolean" and text in ("true", "false"):
            fields.append((name, text == "true"))
        else:
            fields.append((name, text))
    return ImmutableMultiDict(fields)


def openapi() -> OpenAPI:
    return OpenAPI.from_dict(
        adapted_spec(),
        config=Config(
            extra_media_type_deserializers={
                VND: lambda value, **_: json.loads(value),
                "multipart/form-data": _multipart_loads,
            }
        ),
    )


class _Request:
    def __init__(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict({}),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))
        self.data = response.content


def operation_name(method: str, path: str) -> str:
    rest = path.split("/apis/3.0", 1)[1]
    return f"{method} " + re.sub(r"/\d+(?=/|$)", "/{id}", rest)


class ContractTransport(httpx.BaseTransport):
    """Sends for real, and validates every API request and answer against the contract."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._api = openapi()
        self._lock = threading.Lock()
        self.failures: list[str] = []
        self.requests_checked: set[str] = set()
        self.answers_checked: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        is_api = "/apis/3.0/" in request.url.path
        if is_api:
            self._check(lambda: self._api.validate_request(_Request(request)), request, "request")
        response = self._inner.handle_request(request)
        response.read()
        if is_api:
            if response.is_success:
                self._check(
                    lambda: self._api.validate_response(_Request(request), _Response(response)), request, "answer"
                )
            else:
                schema = RATE_LIMIT_BODY if response.status_code == 429 else ERROR_BODY
                self._check(lambda: jsonschema.validate(response.json(), schema), request, "answer")
        return response

    def _check(self, validate: Any, request: httpx.Request, what: str) -> None:
        name = operation_name(request.method, request.url.path)
        try:
            validate()
        except Exception as exc:  # every validation failure is collected and reported by the test
            cause = exc.__cause__ or exc
            with self._lock:
                self.failures.append(f"{what} {name}: {exc!r} {cause!r}"[:2000])
            return
        with self._lock:
            (self.requests_checked if what == "request" else self.answers_checked).add(name)

    def close(self) -> None:
        self._inner.close()
