"""Prints what `make dev` started and the demo tenant's tokens.

    python local/banner.py .local/demo.json follow|detached
"""

import json
import os
import sys

demo = json.load(open(sys.argv[1]))
follow = len(sys.argv) < 3 or sys.argv[2] == "follow"
env = os.environ  # local/env, through local/stack.sh run
http = f"http://127.0.0.1:{env['KEFU_HTTP_PORT']}"
print(f"""
Kefu is running locally.

  HTTP API       {http}
  WebSocket API  ws://127.0.0.1:{env['KEFU_WS_PORT']}/?token=<token>
  DynamoDB       {env['AWS_ENDPOINT_URL_DYNAMODB']}   (table "{env['TABLE_NAME']}")
  Functions      http://127.0.0.1:{env['KEFU_LAMBDA_PORT']}   (cargo lambda watch: save a change, requests run it a moment later)

Demo tenant "{demo['tenantId']}" (skill group "sales" with alice and bob, both idle):
""")
for who in ("admin", "alice", "bob"):
    t = demo[who]
    print(f"  {who:6} ({t['role']})\n    {t['token']}\n")
print(f"""A visitor gets a token with:
  curl -s -XPOST {http}/visitor/token -d '{{"tenantId":"demo","name":"Visitor"}}'

The protocol is in docs/protocol.md.
""")
if follow:
    print("The stack's logs follow. Ctrl-C stops everything.\n", flush=True)
else:
    print("Logs: make logs (or .local/*.log). Stop: make stop.\n", flush=True)
