"""A closed-world model of agentgateway's HTTP request and response pipeline, for the objects
the platform registers (HTTPRoute, AgentgatewayPolicy, AgentgatewayBackend).

Every step cites agentgateway/agentgateway@v1.4.1 (`UPSTREAM`). A field the model does not know
fails the test (the platform must not rely on behaviour nobody modelled), and every CEL
expression is checked against the variables that exist in the phase it runs in.

Order of a request (crates/agentgateway/src/proxy/httpproxy.rs, apply_request_policies):
  route selection → JWT → ext_authz → authorization → rate limit (request units) →
  request transformation → URL rewrite → redirect → delay → direct response → backend policies
  (LLM: prompt guard, token budget check, provider model; MCP: tool authorization) → backend →
  response guards → token accounting → response transformation.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from dataclasses import dataclass, field

import cel
import cel.stdlib

from tests.support.cel_errors import CEL_PARSE_ERROR, CEL_RUNTIME_ERRORS

UPSTREAM = "agentgateway/agentgateway@v1.4.1"

# The top-level CEL variables agentgateway knows (crates/agentgateway/src/cel/mod.rs, attributes_for).
CEL_ROOTS = (
    "request",
    "response",
    "llm",
    "llmRequest",
    "source",
    "destination",
    "backend",
    "jwt",
    "apiKey",
    "basicAuth",
    "mcp",
    "extauthz",
    "extproc",
    "metadata",
    "proxy",
)
# What each phase can see. Request policies evaluate with Executor::new_request (no response);
# `metadata` is what a request transformation stored (crates/agentgateway/src/cel/types.rs);
# `mcp` only exists in MCP authorization (Executor::new_mcp_request, crates/agentgateway/src/mcp/rbac.rs).
PHASE_VARIABLES = {
    "authorization": {"request", "jwt", "source"},
    "request transformation": {"request", "jwt", "source", "metadata"},
    "direct response": {"request", "jwt", "source", "metadata"},
    "rate limit descriptor": {"request", "jwt", "source"},
    "response transformation": {"request", "jwt", "source", "metadata", "response"},
    "mcp authorization": {"request", "jwt", "mcp"},
}

# The request body limit: CEL sees at most this much (`request.body` is absent beyond it,
# crates/agentgateway/src/cel/types.rs, BufferedBody::exceeded_limit) and the LLM path refuses a
# larger body, before or after decompression (crates/agentgateway/src/llm/mod.rs,
# read_body_and_default_model). Default: crates/agentgateway/src/lib.rs, max_buffer_size.
BUFFER_LIMIT = 2_097_152
# Content-Encodings the LLM path decodes before parsing the body (read_body_and_default_model,
# http::compression::to_bytes_with_decompression); CEL's `request.body` is never decoded.
DECODERS = {"gzip": gzip.decompress, "deflate": zlib.decompress}
# An error of the LLM request path (body unreadable, not the expected JSON) is
# ProxyError::Processing, answered 503 (crates/agentgateway/src/proxy/mod.rs).
LLM_PROCESSING_ERROR = 503

KNOWN_TRAFFIC = {"jwtAuthentication", "authorization", "rateLimit", "transformation", "directResponse"}
KNOWN_BACKEND_KINDS = {"static", "ai", "mcp", "dynamicForwardProxy"}
KNOWN_RULE_FILTERS = {"URLRewrite"}


class UnknownField(AssertionError):
    """The platform uses something this model does not describe."""


def closed(mapping: dict, known: set[str], where: str) -> None:
    unknown = set(mapping) - known
    if unknown:
        raise UnknownField(f"{where}: {sorted(unknown)} not modelled (known: {sorted(known)})")


# --- CEL -----------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_ROOT = re.compile(r"(?<![.\w])(" + "|".join(CEL_ROOTS) + r")\b(?!\s*\()")


def roots(expression: str) -> set[str]:
    """The agentgateway variables an expression reads (string literals ignored)."""
    return set(_ROOT.findall(_STRING.sub('""', expression)))


def _json(value):
    """celx `json()`: parse bytes or a string as JSON (crates/celx/src/general.rs, json_parse);
    anything else (an absent body is null) is an error."""
    if not isinstance(value, (bytes, str)):
        raise ValueError(f"json(): invalid type {type(value).__name__}")
    text = value.decode() if isinstance(value, bytes) else value
    return json.loads(text)


def _unvalidated_jwt_payload(token):
    """celx `unvalidatedJwtPayload`: the JSON of a three-segment token's middle segment,
    base64url with or without padding (crates/celx/src/general.rs); anything else is an error."""
    parts = str(token).split(".")
    if len(parts) != 3:
        raise ValueError(f"invalid JWT: expected 3 segments, got {len(parts)}")
    segment = parts[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _regex_replace(text, pattern, replacement):
    """celx `regexReplace`: the first match replaced (Regex::replace, crates/celx/src/general.rs)."""
    return re.sub(str(pattern), str(replacement), str(text), count=1)


def _top_level_arguments(text: str) -> list[str]:
    """Split a call's argument text at its top-level commas (string literals respected)."""
    args, depth, start, i = [], 0, 0, 0
    while i < len(text):
        literal = _STRING.match(text, i)
        if literal:
            i = literal.end()
            continue
        if text[i] in "([{":
            depth += 1
        elif text[i] in ")]}":
            depth -= 1
        elif text[i] == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    args.append(text[start:].strip())
    return args


def _coalesce(expression: str):
    """celx `coalesce(a, b, ...)`: the first argument that evaluates to a non-null value; an
    argument that fails to evaluate is skipped (crates/celx/src/general.rs, coalesce). Modelled
    only as a whole expression: returns the arguments, or None when it is not one."""
    text = expression.strip()
    if not (text.startswith("coalesce(") and text.endswith(")")):
        if "coalesce(" in _STRING.sub('""', text):
            raise UnknownField(f"coalesce() is modelled only as the whole expression: {expression!r}")
        return None
    inner = text[len("coalesce(") : -1]
    args = _top_level_arguments(inner)
    if _STRING.sub('""', inner).count("(") != _STRING.sub('""', inner).count(")") or len(args) < 2:
        raise UnknownField(f"coalesce() not modelled here: {expression!r}")
    return args


def evaluate(expression: str, phase: str, **variables):
    """Evaluate like agentgateway would in `phase`; reading a variable the phase lacks fails the test."""
    missing = roots(expression) - PHASE_VARIABLES[phase]
    if missing:
        raise UnknownField(f"{phase}: {expression!r} reads {sorted(missing)}, which do not exist in this phase")
    args = _coalesce(expression)
    if args is not None:
        error: Exception | None = None
        saw_null = False
        for arg in args:
            try:
                value = evaluate(arg, phase, **variables)
            except UnknownField:
                raise
            except CEL_RUNTIME_ERRORS as e:  # coalesce skips an argument that fails to evaluate
                error = e
                continue
            if value is not None:
                return value
            saw_null = True
        if saw_null or error is None:
            return None
        raise error
    context = cel.Context()
    cel.stdlib.add_stdlib_to_context(context)
    context.add_function("json", _json)
    context.add_function("unvalidatedJwtPayload", _unvalidated_jwt_payload)
    context.add_function("regexReplace", _regex_replace)
    for name, value in variables.items():
        context.add_variable(name, value)
    return cel.evaluate(expression, context)


def evaluates_true(expression: str, phase: str, **variables) -> bool:
    """Executor::eval_bool: an evaluation error or a non-bool is false (crates/agentgateway/src/cel/types.rs)."""
    roots_ok = roots(expression) - PHASE_VARIABLES[phase]
    if roots_ok:
        raise UnknownField(f"{phase}: {expression!r} reads {sorted(roots_ok)}, which do not exist in this phase")
    try:
        return evaluate(expression, phase, **variables) is True
    except UnknownField:
        raise
    except CEL_RUNTIME_ERRORS:  # an evaluation error is false (eval_bool maps eval(expr) errors to false)
        return False


def try_evaluate(expression: str, phase: str, **variables):
    """(ok, value); only CEL evaluation errors count as failures."""
    try:
        return True, evaluate(expression, phase, **variables)
    except UnknownField:
        raise
    except CEL_RUNTIME_ERRORS:  # UnknownField (an AssertionError) is re-raised above
        return False, None


# --- requests and responses ----------------------------------------------------------------


@dataclass
class Request:
    path: str  # path and query, as the client sent it
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    method: str = "POST"


@dataclass
class Upstream:
    """What the backend answers (LLM completions, MCP tool lists, anything else)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    completion: str = ""  # LLM: the answer text (response guards read it)
    tokens: int = 0  # LLM: input + output tokens reported as usage
    tools: tuple[str, ...] = ()  # MCP: the server's tools


@dataclass
class Forwarded:
    """What reached the backend."""

    backend: str
    authority: str
    path: str
    headers: dict[str, str]
    body: bytes
    kind: str


@dataclass
class Outcome:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    step: str = ""  # the step that answered
    route: str | None = None
    forwarded: Forwarded | None = None
    tools: tuple[str, ...] | None = None  # MCP tools/list as the caller sees it

    @property
    def error(self) -> dict:
        return json.loads(self.body)["error"]

    @property
    def denial(self) -> str | None:
        return self.headers.get("x-agentplane-denial")


# Built-in PII detectors of the regex prompt guard, approximated by examples-safe patterns
# (crates/agentgateway/src/llm/policy/pii/: us_ssn_recognizer.rs, credit_card_recognizer.rs,
# email_recognizer.rs, phone_recognizer.rs, ca_sin_recognizer.rs).
BUILTIN_PATTERNS = {
    "Ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "CreditCard": r"\b(?:\d{4}[ -]?){3}\d{4}\b",
    "Email": r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b",
    "PhoneNumber": r"\+?\d[\d ()-]{8,}\d",
    "CaSin": r"\b\d{3}[ -]\d{3}[ -]\d{3}\b",
}


# --- the gateway -----------------------------------------------------------------------------


class Gateway:
    """agentgateway serving the platform's objects. `tokens` maps a bearer token to the claims
    the realm signed into it; any other token fails validation."""

    def __init__(self, objects: list[dict], tokens: dict[str, dict], budget=None):
        assert objects, "no objects to serve"
        self.routes = [o for o in objects if o["kind"] == "HTTPRoute"]
        self.backends = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "AgentgatewayBackend"}
        self.policies: dict[str, dict] = {}
        for policy in (o for o in objects if o["kind"] == "AgentgatewayPolicy"):
            spec = policy["spec"]
            closed(spec, {"targetRefs", "traffic", "backend", "frontend"}, f"policy {policy['metadata']['name']}")
            if "frontend" in spec:
                continue  # listener-level (access logs, tracing): not on the request path
            (target,) = spec["targetRefs"]
            assert target["kind"] == "HTTPRoute" and target["name"] not in self.policies, target
            closed(spec.get("traffic", {}), KNOWN_TRAFFIC, f"policy {policy['metadata']['name']}.traffic")
            closed(spec.get("backend", {}), {"ai"}, f"policy {policy['metadata']['name']}.backend")
            self.policies[target["name"]] = spec
        self.tokens = tokens
        self.budget = budget

    # Gateway API precedence: the longest matching path prefix, whole path elements
    # (crates/agentgateway/src/http/route.rs).
    def select(self, path: str) -> tuple[dict, dict, str] | None:
        best = None
        for route in self.routes:
            for rule in route["spec"]["rules"]:
                closed(rule, {"name", "matches", "backendRefs", "filters"}, f"route {route['metadata']['name']} rule")
                for match in rule["matches"]:
                    closed(match, {"path"}, "route match")
                    assert match["path"]["type"] == "PathPrefix", match
                    prefix = match["path"]["value"].rstrip("/")
                    if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
                        if best is None or len(prefix) > len(best[2]):
                            best = (route, rule, prefix)
        return best

    def send(
        self, request: Request, upstream: Upstream | None = None, *, now: int = 0, tool_call: str | None = None
    ) -> Outcome:
        upstream = upstream or Upstream()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path_only = request.path.split("?")[0]
        selected = self.select(path_only)
        if selected is None:
            return Outcome(404, step="route")
        route, rule, prefix = selected
        name = route["metadata"]["name"]
        spec = self.policies.get(name, {})
        traffic = spec.get("traffic", {})
        uri = {"path": path_only, "pathAndQuery": request.path}

        # CEL reads the body as received: not decoded, and absent beyond the buffer limit.
        cel_body = request.body if len(request.body) <= BUFFER_LIMIT else None

        def req_vars() -> dict:
            return {
                "path": uri["path"],
                "pathAndQuery": uri["pathAndQuery"],
                "headers": dict(headers),
                "body": cel_body,
                "method": request.method,
            }

        variables: dict = {"request": req_vars(), "source": {}, "metadata": {}}

        # JWT (crates/agentgateway/src/http/jwt.rs, Jwt::apply): the token is read from the
        # configured location (default `Authorization: Bearer`), validated, then removed from it.
        jwt = traffic.get("jwtAuthentication")
        if jwt is not None:
            closed(jwt, {"mode", "providers", "location"}, "jwtAuthentication")
            assert jwt["mode"] == "Strict", jwt["mode"]
            location = jwt.get("location", {"header": {"name": "authorization", "prefix": "Bearer "}})
            closed(location, {"header"}, "jwtAuthentication.location")
            header, bearer = location["header"]["name"].lower(), location["header"]["prefix"]
            value = headers.get(header, "")
            if not value.startswith(bearer):
                return Outcome(401, step="jwt", route=name)
            claims = self.tokens.get(value[len(bearer) :])
            issuers = {p["issuer"] for p in jwt["providers"]}
            if (
                claims is None
                or claims.get("iss") not in issuers
                or not set(claims.get("aud", [])) & {a for p in jwt["providers"] for a in p["audiences"]}
            ):
                return Outcome(401, step="jwt", route=name)
            del headers[header]
            variables["jwt"] = claims
        else:
            variables["jwt"] = {}
        variables["request"] = req_vars()

        # Authorization (crates/agentgateway/src/http/authorization.rs): every expression of an
        # Allow rule must hold; otherwise 403 "authorization failed" (crates/agentgateway/src/proxy/mod.rs).
        authorization = traffic.get("authorization")
        if authorization is not None:
            closed(authorization, {"action", "policy"}, "authorization")
            assert authorization["action"] == "Allow"
            expressions = authorization["policy"]["matchExpressions"]
            assert expressions
            if not all(evaluates_true(e, "authorization", **variables) for e in expressions):
                return Outcome(403, body=b"authorization failed", step="authorization", route=name)

        # Rate limit: only `Requests` descriptors are checked here; `Tokens` ones wait for the LLM
        # phase (crates/agentgateway/src/http/remoteratelimit.rs, check vs check_llm).
        rate = traffic.get("rateLimit")
        if rate is not None:
            closed(rate, {"global"}, "rateLimit")
            closed(rate["global"], {"domain", "backendRef", "descriptors", "failureMode"}, "rateLimit.global")
            assert all(d["unit"] == "Tokens" for d in rate["global"]["descriptors"]), (
                "request-unit limits are not modelled"
            )

        # Request transformation (crates/agentgateway/src/http/transformation_cel.rs, apply):
        # metadata (a failed expression stores nothing), set (a failed expression removes the
        # header: crates/agentgateway/src/http/mod.rs, apply_header), then remove.
        transformation = traffic.get("transformation", {})
        closed(transformation, {"request", "response"}, "transformation")
        authority = None
        on_request = transformation.get("request", {})
        closed(on_request, {"metadata", "set", "remove"}, "transformation.request")
        metadata = {}
        for key, expression in on_request.get("metadata", {}).items():
            ok, value = try_evaluate(expression, "request transformation", **variables)
            if ok:
                metadata[key] = value
        variables["metadata"] = metadata
        for entry in on_request.get("set", []):
            ok, value = try_evaluate(entry["value"], "request transformation", **variables)
            header = entry["name"].lower()
            if header == ":path":
                if ok:
                    uri["pathAndQuery"], uri["path"] = value, value.split("?")[0]
            elif header == ":authority":
                if ok:
                    authority = value
            elif ok:
                headers[header] = str(value)
            else:
                headers.pop(header, None)
        for header in on_request.get("remove", []):
            headers.pop(header.lower(), None)
        variables["request"] = req_vars()

        # URL rewrite (crates/agentgateway/src/http/filters.rs, UrlRewrite::apply): the request
        # URI is replaced in place, so later `request.path` reads the rewritten path.
        for f in rule.get("filters", []):
            closed({f["type"]: 1}, KNOWN_RULE_FILTERS, "rule filter")
            rewrite = f["urlRewrite"]
            closed(rewrite, {"path"}, "urlRewrite")
            assert rewrite["path"]["type"] == "ReplacePrefixMatch"
            rest = uri["pathAndQuery"][len(prefix) :]
            replacement = rewrite["path"]["replacePrefixMatch"]
            new = replacement.rstrip("/") + rest if rest.startswith("/") else replacement + rest
            uri["pathAndQuery"], uri["path"] = new or "/", (new or "/").split("?")[0]
        variables["request"] = req_vars()

        # Direct response (crates/agentgateway/src/http/filters.rs, DirectResponse::apply; the
        # first conditional policy whose condition holds, crates/agentgateway/src/store/policy.rs,
        # RequestPolicy::select). A failing body expression is an error; a failing header is skipped.
        direct = traffic.get("directResponse")
        if direct is not None:
            chosen = None
            if "conditional" in direct:
                closed(direct, {"conditional"}, "directResponse")
                for entry in direct["conditional"]:
                    closed(entry, {"condition", "policy"}, "directResponse.conditional")
                    if "condition" not in entry or evaluates_true(entry["condition"], "direct response", **variables):
                        chosen = entry["policy"]
                        break
            else:
                chosen = direct
            if chosen is not None:
                closed(chosen, {"status", "headers", "bodyExpression", "body"}, "directResponse policy")
                out_headers = {}
                for h in chosen.get("headers", []):
                    ok, value = try_evaluate(h["value"], "direct response", **variables)
                    if ok:
                        out_headers[h["name"].lower()] = value
                ok, body = try_evaluate(chosen.get("bodyExpression", '""'), "direct response", **variables)
                if not ok:
                    return Outcome(500, step="direct response", route=name)
                body_bytes = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                return self._respond(
                    Outcome(chosen["status"], out_headers, body_bytes, "direct response", name),
                    transformation,
                    variables,
                )

        if "backendRefs" not in rule:
            return Outcome(500, step="no backend", route=name)
        (ref,) = rule["backendRefs"]
        backend_name = ref["name"]
        backend = self.backends[backend_name]
        closed(backend, KNOWN_BACKEND_KINDS | {"policies"}, f"backend {backend_name}")
        kind = (set(backend) & KNOWN_BACKEND_KINDS).pop()
        body = request.body

        if kind == "static":
            closed(backend.get("policies", {}), {"tls"}, f"backend {backend_name}.policies")
            # The Host is rewritten to the static backend's host (AutoHostname).
            target = f"{backend['static']['host']}:{backend['static']['port']}"
        elif kind == "dynamicForwardProxy":
            target = authority or headers.get("host", "")
        elif kind == "mcp":
            return self._mcp(backend, backend_name, name, headers, uri, variables, upstream, transformation, tool_call)
        else:
            return self._llm(
                backend, backend_name, name, spec, headers, uri, variables, request, upstream, transformation, now
            )
        forwarded = Forwarded(backend_name, target, uri["pathAndQuery"], headers, body, kind)
        return self._respond(
            Outcome(upstream.status, dict(upstream.headers), upstream.body, "backend", name, forwarded),
            transformation,
            variables,
        )

    # --- LLM backends (crates/agentgateway/src/llm/mod.rs) -----------------------------------

    def _llm(
        self, backend, backend_name, route, spec, headers, uri, variables, request, upstream, transformation, now
    ) -> Outcome:
        closed(backend.get("policies", {}), {"auth"}, f"backend {backend_name}.policies")
        (provider,) = backend["ai"]["provider"].values()
        guard = spec.get("backend", {}).get("ai", {}).get("promptGuard", {})
        closed(spec.get("backend", {}).get("ai", {}), {"promptGuard"}, "backend.ai")
        closed(guard, {"request", "response", "streaming"}, "promptGuard")
        body = self._llm_body(request.body, headers)
        if body is None:
            return self._respond(
                Outcome(LLM_PROCESSING_ERROR, {}, b"", "llm request", route), transformation, variables
            )
        # Request prompt guards run first (Policy::apply_prompt_guard in prepare_request), each
        # over every text the request's visit_text_mut yields.
        for entry in guard.get("request", []):
            blocked = self._guard_request(entry, body["messages"])
            if blocked is not None:
                return self._respond(
                    Outcome(blocked[0], {}, blocked[1], "request guard", route), transformation, variables
                )
        # Token budget: checked with 0 hits before the call (remoteratelimit.rs, check_llm).
        rate = spec.get("traffic", {}).get("rateLimit", {}).get("global")
        descriptors = self._descriptors(rate, variables) if rate else []
        if rate and self.budget is not None:
            over, budget_headers = self.budget.check(rate["domain"], descriptors, 0, now)
            if over:
                # An empty body: ratelimit's raw_body (remoteratelimit.rs, apply).
                return self._respond(Outcome(429, budget_headers, b"", "budget", route), transformation, variables)
        # The provider's model replaces the body's (set_provider_request_model).
        if "model" in provider:
            body["model"] = provider["model"]
        # Usage is asked for only when stream_options is absent or null (process_completions_request).
        if body.get("stream") is True and body.get("stream_options") is None:
            body["stream_options"] = {"include_usage": True}
        auth = backend.get("policies", {}).get("auth")
        if auth is not None:
            headers["authorization"] = f"provider-key:{auth['secretRef']['name']}"
        forwarded = Forwarded(backend_name, "provider", uri["pathAndQuery"], headers, json.dumps(body).encode(), "ai")
        completion = upstream.completion
        for entry in guard.get("response", []):
            if body.get("stream") and guard.get("streaming") != "Enabled":
                break  # streamed answers pass unchecked unless streaming guards are enabled
            blocked, completion = self._guard(entry, completion, request_side=False)
            if blocked is not None:
                return self._respond(
                    Outcome(blocked[0], {}, blocked[1], "response guard", route, forwarded), transformation, variables
                )
        # Usage: a response without it counts 0 tokens (`(_, None) => 0`).
        reported = (
            upstream.tokens
            if (not body.get("stream") or (body.get("stream_options") or {}).get("include_usage"))
            else 0
        )
        if rate and self.budget is not None:
            self.budget.check(rate["domain"], descriptors, reported, now)
        response = Outcome(
            upstream.status,
            dict(upstream.headers),
            json.dumps({"choices": [{"message": {"content": completion}}]}).encode(),
            "backend",
            route,
            forwarded,
        )
        return self._respond(response, transformation, variables)

    @staticmethod
    def _llm_body(raw: bytes, headers: dict[str, str]) -> dict | None:
        """The chat-completions body as the LLM path reads it, or None for its processing error
        (crates/agentgateway/src/llm/mod.rs, read_body_and_default_model: Content-Encoding is
        decoded, then the body must parse as crates/llm/src/types/completions.rs, Request)."""
        if len(raw) > BUFFER_LIMIT:
            return None  # AIError::RequestTooLarge
        encoding = headers.pop("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            if encoding not in DECODERS:
                return None  # AIError::UnsupportedEncoding
            try:
                raw = DECODERS[encoding](raw)
            except (OSError, zlib.error, EOFError):
                return None
            headers.pop("transfer-encoding", None)
            if len(raw) > BUFFER_LIMIT:
                return None
        try:
            body = json.loads(raw)
        except ValueError:
            return None  # AIError::RequestParsing
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return None  # `messages` is required
        options = body.get("stream_options")
        if options is not None and not (isinstance(options, dict) and isinstance(options.get("include_usage"), bool)):
            return None  # StreamOptions.include_usage is a required bool
        return body

    def _guard_request(self, entry: dict, messages: list[dict]) -> tuple[int, bytes] | None:
        """One request guard over the texts agentgateway's regex guard visits
        (crates/llm/src/types/completions.rs, Request::visit_text_mut): each message's content
        except `role: tool` messages; a content array's adjacent text parts joined by " "
        (crates/llm/src/types/mod.rs, scan_text_runs). Masking writes the text back."""
        for message in messages:
            if message.get("role") == "tool":
                continue
            content = message.get("content")
            if isinstance(content, str):
                blocked, message["content"] = self._guard(entry, content, request_side=True)
                if blocked is not None:
                    return blocked
            elif isinstance(content, list):
                runs: list[list[dict]] = [[]]
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        runs[-1].append(part)
                    else:
                        runs.append([])
                for run in (r for r in runs if r):
                    joined = run[0]["text"] if len(content) == 1 else " ".join(p["text"] for p in run)
                    blocked, masked = self._guard(entry, joined, request_side=True)
                    if blocked is not None:
                        return blocked
                    if masked != joined:
                        run[-1]["text"] = masked
                        for part in run[:-1]:
                            content.remove(part)
        return None

    def _descriptors(self, rate: dict, variables: dict) -> list[list[tuple[str, str]]]:
        """A descriptor whose expression fails is dropped (remoteratelimit.rs, eval_descriptor)."""
        out = []
        for descriptor in rate["descriptors"]:
            closed(descriptor, {"entries", "unit"}, "rate limit descriptor")
            entries = []
            for entry in descriptor["entries"]:
                ok, value = try_evaluate(entry["expression"], "rate limit descriptor", **variables)
                if not ok:
                    break
                entries.append((entry["name"], value))
            else:
                out.append(entries)
        return out

    @staticmethod
    def _guard(entry: dict, text: str, *, request_side: bool) -> tuple[tuple[int, bytes] | None, str]:
        closed(entry, {"regex", "webhook", "response"}, "prompt guard")
        rejection = entry.get("response", {})
        status, message = (
            rejection.get("statusCode", 403),
            rejection.get("message", "The request was rejected due to inappropriate content"),
        )
        if "webhook" in entry:
            closed(entry["webhook"], {"backendRef", "failureMode"}, "prompt guard webhook")
            return None, text  # an external verdict; the model only checks its shape
        regex = entry["regex"]
        closed(regex, {"action", "builtins", "matches"}, "prompt guard regex")
        patterns = [BUILTIN_PATTERNS[b] for b in regex.get("builtins", [])] + list(regex.get("matches", []))
        assert patterns
        if not any(re.search(p, text) for p in patterns):
            return None, text
        if regex.get("action", "Mask") == "Reject":
            return (status, message.encode()), text
        for p in patterns:
            text = re.sub(p, "<masked>", text)
        return None, text

    # --- MCP backends (crates/agentgateway/src/mcp/) --------------------------------------------

    def _mcp(
        self, backend, backend_name, route, headers, uri, variables, upstream, transformation, tool_call
    ) -> Outcome:
        closed(backend.get("policies", {}), {"mcp"}, f"backend {backend_name}.policies")
        closed(backend.get("policies", {}).get("mcp", {}), {"authorization"}, f"backend {backend_name}.policies.mcp")
        rule = backend.get("policies", {}).get("mcp", {}).get("authorization")
        (target,) = backend["mcp"]["targets"]

        def allowed(tool: str) -> bool:
            # McpAuthorizationSet::validate: no rules allows everything; an Allow rule must match.
            if rule is None:
                return True
            closed(rule, {"action", "policy"}, "mcp authorization")
            assert rule["action"] == "Allow"
            info = {"tool": {"target": target["name"], "name": tool}}
            return all(
                evaluates_true(e, "mcp authorization", jwt=variables["jwt"], request=variables["request"], mcp=info)
                for e in rule["policy"]["matchExpressions"]
            )

        forwarded = Forwarded(
            backend_name,
            f"{target['static']['host']}:{target['static']['port']}",
            target["static"]["path"],
            headers,
            b"",
            "mcp",
        )
        if tool_call is not None:
            if not allowed(tool_call):
                # call_tool of a tool the caller may not use is refused (rbac.rs, validate).
                return Outcome(403, {}, b"unauthorized tool call", "mcp authorization", route, None)
            return self._respond(
                Outcome(upstream.status, dict(upstream.headers), upstream.body, "backend", route, forwarded),
                transformation,
                variables,
            )
        # tools/list: each item is evaluated, the others are filtered out.
        listed = tuple(t for t in upstream.tools if allowed(t))
        out = Outcome(upstream.status, dict(upstream.headers), upstream.body, "backend", route, forwarded, tools=listed)
        return self._respond(out, transformation, variables)

    # --- responses --------------------------------------------------------------------------

    @staticmethod
    def _respond(outcome: Outcome, transformation: dict, variables: dict) -> Outcome:
        """The route's response transformation (transformation_cel.rs, apply_response)."""
        on_response = transformation.get("response", {})
        closed(on_response, {"set"}, "transformation.response")
        response = {"code": outcome.status, "headers": dict(outcome.headers)}
        for entry in on_response.get("set", []):
            ok, value = try_evaluate(entry["value"], "response transformation", **variables, response=response)
            if ok:
                outcome.headers[entry["name"].lower()] = str(value)
            else:
                outcome.headers.pop(entry["name"].lower(), None)
        return outcome


class RateLimitService:
    """envoyproxy/ratelimit's arithmetic: descriptor trees per domain, fixed windows per unit,
    and the limit/remaining/reset headers it adds (envoyproxy/ratelimit@1e50889)."""

    UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

    def __init__(self, files: dict[str, str], header_names: tuple[str, str, str]):
        import yaml

        assert files
        self.domains = {}
        for text in files.values():
            config = yaml.safe_load(text)
            self.domains[config["domain"]] = config["descriptors"]
        self.counters: dict[tuple, int] = {}
        self.limit_header, self.remaining_header, self.reset_header = header_names

    def _limit(self, domain: str, entries: list[tuple[str, str]]) -> dict | None:
        nodes, node = self.domains.get(domain, []), None
        for key, value in entries:
            node = next((n for n in nodes if n["key"] == key and n.get("value") == value), None)
            if node is None:
                return None
            nodes = node.get("descriptors", [])
        return node.get("rate_limit")

    def check(self, domain: str, descriptors: list[list[tuple[str, str]]], hits: int, now: int) -> tuple[bool, dict]:
        over, headers = False, {}
        for entries in descriptors:
            limit = self._limit(domain, entries)
            if limit is None:
                continue
            seconds = self.UNIT_SECONDS[limit["unit"]]
            key = (domain, tuple(entries), now // seconds)
            self.counters[key] = self.counters.get(key, 0) + hits
            remaining = max(0, limit["requests_per_unit"] - self.counters[key])
            over |= self.counters[key] > limit["requests_per_unit"]
            headers = {
                self.limit_header: str(limit["requests_per_unit"]),
                self.remaining_header: str(remaining),
                self.reset_header: str(seconds - now % seconds),
            }
        return over, headers


def expressions(objects: list[dict]) -> list[tuple[str, str, str]]:
    """(phase, expression, where) for every CEL expression the objects hold on the request path."""
    out: list[tuple[str, str, str]] = []
    for obj in objects:
        name = f"{obj['kind']} {obj['metadata']['name']}"
        spec = obj.get("spec", {})
        if obj["kind"] == "AgentgatewayPolicy" and "traffic" in spec:
            traffic = spec["traffic"]
            closed(traffic, KNOWN_TRAFFIC, name)
            for e in traffic.get("authorization", {}).get("policy", {}).get("matchExpressions", []):
                out.append(("authorization", e, name))
            for d in traffic.get("rateLimit", {}).get("global", {}).get("descriptors", []):
                out += [("rate limit descriptor", e["expression"], name) for e in d["entries"]]
            request = traffic.get("transformation", {}).get("request", {})
            out += [("request transformation", e, name) for e in request.get("metadata", {}).values()]
            out += [("request transformation", e["value"], name) for e in request.get("set", [])]
            out += [
                ("response transformation", e["value"], name)
                for e in traffic.get("transformation", {}).get("response", {}).get("set", [])
            ]
            direct = traffic.get("directResponse")
            if direct is not None:
                for entry in direct.get("conditional", [{"policy": direct}]):
                    if "condition" in entry:
                        out.append(("direct response", entry["condition"], name))
                    policy = entry["policy"]
                    out += [("direct response", h["value"], name) for h in policy.get("headers", [])]
                    if "bodyExpression" in policy:
                        out.append(("direct response", policy["bodyExpression"], name))
        if obj["kind"] == "AgentgatewayBackend":
            rule = spec.get("policies", {}).get("mcp", {}).get("authorization")
            if rule is not None:
                out += [("mcp authorization", e, name) for e in rule["policy"]["matchExpressions"]]
    return out


def compiles(expression: str) -> bool:
    try:
        cel.compile(expression)
    except CEL_PARSE_ERROR:
        return False
    return True
