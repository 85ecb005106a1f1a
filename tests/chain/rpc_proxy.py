"""A loopback JSON-RPC proxy in front of anvil that fails or lags on purpose.

``FaultyRpc(upstream)`` listens on a free 127.0.0.1 port and forwards every call to ``upstream``, unless told
otherwise while it runs:

- ``fail = True`` answers every call with HTTP 503 (a node that is down behind its load balancer);
  ``fail = {"eth_sendRawTransaction"}`` fails only the methods named;
- ``lag = n`` makes the reads answer as a node ``n`` blocks behind the head would: the block number, the
  state that calls and nonces see, receipts, transactions and logs all stop ``n`` blocks back. Gas estimates
  and broadcasts still reach the head, as they do behind a load balancer whose replicas are not in sync.

It is a context manager::

    with FaultyRpc(node.url) as rpc:          # doctest: +SKIP
        rpc.lag = 5
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Methods whose last parameter is a block tag that a lagging node reads at its own head.
_AT_BLOCK = {"eth_call": 1, "eth_getTransactionCount": 1, "eth_getBalance": 1, "eth_getCode": 1,
             "eth_getStorageAt": 2, "eth_getBlockByNumber": 0}
_TAGS = ("latest", "pending", "safe", "finalized")


class FaultyRpc:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.fail: bool | set[str] = False
        self.lag = 0
        self.calls: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FaultyRpc:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # forwarding ---------------------------------------------------------------------------------

    def _forward(self, method: str, params: list[Any], rid: Any = 1) -> dict[str, Any]:
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def _lagged_head(self) -> int:
        return max(0, int(self._forward("eth_blockNumber", [])["result"], 16) - self.lag)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        method, params, rid = req["method"], list(req.get("params") or []), req.get("id")
        if not self.lag:
            return self._forward(method, params, rid)
        head = self._lagged_head()
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(head)}
        if method in _AT_BLOCK:
            i = _AT_BLOCK[method]
            if len(params) <= i:
                params += ["latest"] * (i + 1 - len(params))
            if params[i] in _TAGS:
                params[i] = hex(head)
        resp = self._forward(method, params, rid)
        res = resp.get("result")
        mined = isinstance(res, dict) and res.get("blockNumber") is not None
        if method in ("eth_getTransactionReceipt", "eth_getTransactionByHash") and mined \
                and int(res["blockNumber"], 16) > head:
            resp["result"] = None  # not mined yet, as far as this node knows
        if method == "eth_getLogs" and isinstance(res, list):
            resp["result"] = [e for e in res if int(e["blockNumber"], 16) <= head]
        return resp

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                proxy.calls.append(req.get("method", "?"))
                fail = proxy.fail
                if fail is True or (isinstance(fail, set) and req.get("method") in fail):
                    self._reply(503, b"upstream unavailable")
                    return
                self._reply(200, json.dumps(proxy.answer(req)).encode())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
