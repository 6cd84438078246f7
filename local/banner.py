"""Prints what `make dev` started and the demo tenant's tokens."""

import json
import sys

demo = json.load(open(sys.argv[1]))
print(f"""
Kefu is running locally.

  HTTP API       http://127.0.0.1:3000
  WebSocket API  ws://127.0.0.1:3001/?token=<token>
  DynamoDB       http://127.0.0.1:8000   (moto; table "kefu")
  Functions      http://127.0.0.1:9000   (cargo lambda watch)
  Logs           .local/*.log            Stop with: make stop

Demo tenant "{demo['tenantId']}" (skill group "sales" with alice and bob, both idle):
""")
for who in ("admin", "alice", "bob"):
    t = demo[who]
    print(f"  {who:6} ({t['role']})\n    {t['token']}\n")
print("""A visitor gets a token with:
  curl -s -XPOST http://127.0.0.1:3000/visitor/token -d '{"tenantId":"demo","name":"Visitor"}'

The protocol is in docs/protocol.md.
""")
