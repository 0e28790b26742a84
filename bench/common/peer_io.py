"""The Python half of bench/common/peer.ts: one JSON line out when ready, then one JSON reply per
JSON command line read from stdin, until EOF. A failing command answers {"error": "..."} (the
bench then stops with that message) and prints its traceback on stderr.

usage (from a peer script in bench/<dir>/):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    from peer_io import serve
    serve({"torch": torch.__version__}, {"round": lambda cmd: {"steps": run(cmd["steps"])}})
"""
import json
import sys
import traceback


def serve(ready, handlers):
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name not in handlers:
                raise ValueError(f"unknown command {name!r}; expected one of {sorted(handlers)}")
            out = handlers[name](cmd)
        except Exception as e:  # reported to the bench, which stops
            traceback.print_exc(file=sys.stderr)
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
