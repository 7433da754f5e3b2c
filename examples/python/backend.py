"""A backend of the nest-bindings standalone server, with Python's standard library only.

Your web application (Django, Flask, Rails...) authenticates its users as it always does,
then gives each browser a connect token, and drives the channels through the signed API:

    BINDINGS_URL=http://127.0.0.1:8080 BINDINGS_SECRET=... python3 backend.py demo
    python3 backend.py token '{"user": "alice", "channels": ["lobby"]}'
    python3 backend.py post_message '{"channel": "lobby", "message": "hello"}'

Each command prints its answer as JSON (an error: {"error": {...}} and exit code 1).
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request

URL = os.environ.get("BINDINGS_URL", "http://127.0.0.1:8080")
# During a rotation BINDINGS_SECRET lists several secrets: sign with the first.
SECRET = os.environ["BINDINGS_SECRET"].split(",")[0].encode()


class BindingsError(Exception):
    """The server refused a call: status is the HTTP status, error its {code, message, details?}."""

    def __init__(self, status, error):
        super().__init__(f"{status} {error['code']}: {error['message']}")
        self.status = status
        self.error = error


def sign_token(user, channels=(), state=None, ttl=3600):
    """A connect token for the browser of `user`: it may join `channels` until `ttl` seconds from now."""
    payload = {"user": user, "channels": list(channels), "exp": int(time.time()) + ttl}
    if state is not None:
        payload["state"] = state
    text = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    mac = hmac.new(SECRET, text.encode(), hashlib.sha256).hexdigest()
    return f"{text}.{mac}"


def call(method, path, body):
    """One signed call: v2 = HMAC-SHA256(secret, "<t>.<METHOD> <path>.<raw body>"), good once.

    The nonce keeps two identical calls within one second from being taken for a replay."""
    raw = json.dumps({**body, "nonce": secrets.token_hex(8)}).encode()
    t = str(int(time.time()))
    mac = hmac.new(SECRET, f"{t}.{method} {path}.".encode() + raw, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        URL + path,
        data=raw,
        method=method,
        headers={"content-type": "application/json", "x-bindings-signature": f"t={t},v2={mac}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise BindingsError(error.code, json.load(error)["error"]) from None


def subscribe(user, channels):
    return call("POST", "/api/subscribe", {"user": user, "channels": channels})


def unsubscribe(user, channels):
    return call("POST", "/api/unsubscribe", {"user": user, "channels": channels})


def set_state(user, state):
    return call("POST", "/api/user_state", {"user": user, "state": state})


def post_message(channel, message, user=None):
    return call("POST", "/api/message", {"channel": channel, "message": message, "user": user})


def edit_message(channel, id, message):
    return call("PATCH", "/api/message", {"channel": channel, "id": id, "message": message})


def delete_message(channel, id):
    return call("DELETE", "/api/message", {"channel": channel, "id": id})


def channel_config(channel, **settings):
    return call("POST", "/api/channel_config", {"channel": channel, **settings})


def info(channels=None):
    return call("POST", "/api/info", {} if channels is None else {"channels": channels})


def disconnect(user):
    return call("POST", "/api/disconnect", {"user": user})


def publish(channel, event, data):
    return call("POST", "/api/publish", {"channel": channel, "event": event, "data": data})


def demo():
    """What a backend does: a token for alice's browser, alice in "lobby", a message there."""
    token = sign_token("alice", ["lobby"], state={"status": "online"})
    print(f"browser: new WebSocket('{URL.replace('http', 'ws', 1)}/ws?token={token}')")
    print(subscribe("alice", ["lobby"]))
    print(post_message("lobby", {"text": "Welcome, alice!"}, user="bot"))
    return info(["lobby"])


COMMANDS = {
    "token": sign_token,
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "set_state": set_state,
    "post_message": post_message,
    "edit_message": edit_message,
    "delete_message": delete_message,
    "channel_config": channel_config,
    "info": info,
    "disconnect": disconnect,
    "publish": publish,
    "demo": demo,
}

if __name__ == "__main__":
    run = COMMANDS[sys.argv[1]]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        print(json.dumps(run(**arguments)))
    except BindingsError as error:
        print(json.dumps({"error": error.error, "status": error.status}))
        sys.exit(1)
