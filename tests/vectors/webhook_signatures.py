"""Known answers for the four webhook signature schemes, computed by Python's own hmac,
hashlib, base64 and json (independent of the Rust code they test).

    python3 tests/vectors/webhook_signatures.py > tests/vectors/webhook_signatures.jsonl
"""
import base64, hashlib, hmac, json

BODY_FLAT = '{"type":"price_shift","market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.7,"timestamp":"2026-03-21T14:30:00Z"}'
BODY_VQ = '{"id":"evt_abc123","type":"price_shift","created_at":"2026-05-15T14:30:00Z","data":{"market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.7}}'
# Unsorted, spaced oddly, non-ASCII: the sender signs json.dumps(payload, sort_keys=True)
# (its numbers are already in Python's own form, as a Python sender sends them).
BODY_ARA = '{"event_type":"price_shift",  "data":{"platform":"polymarket","market_id":"will-the-fed-cut","old_yes":0.4,"new_yes":0.46,"change_pct":15.0,"note":"caf\u00e9 \u2014 \ud83d\ude80"}}'
BODY_STD = '{"type":"price_shift","timestamp":"2026-03-21T14:30:00Z","data":{"market_id":"KXFED-26MAR19","platform":"kalshi","old_yes":0.62,"new_yes":0.68,"change_pct":9.7}}'
TS = 1774103400

def hexmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).hexdigest()

out = []
secret = "whsec_abc123def456"
out.append({"scheme": "rekko", "secret": secret, "body": BODY_FLAT, "now": TS,
            "headers": {"x-webhook-signature": hexmac(secret.encode(), BODY_FLAT.encode())}})
out.append({"scheme": "timestamped", "secret": "whsec_your_webhook_secret", "body": BODY_VQ, "now": TS + 30,
            "headers": {"x-vq-signature": hexmac(b"whsec_your_webhook_secret", f"{TS}.{BODY_VQ}".encode()),
                        "x-vq-timestamp": str(TS), "x-vq-webhook-id": "dlv_0001"}})
ara_secret = "your-secret-key-min-16-chars"
payload = json.loads(BODY_ARA)
out.append({"scheme": "sorted-json", "secret": ara_secret, "body": BODY_ARA, "now": TS,
            "headers": {"x-webhook-signature": "sha256=" + hexmac(ara_secret.encode(), json.dumps(payload, sort_keys=True).encode())}})
std_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
key = base64.b64decode(std_secret[len("whsec_"):])
sig = base64.b64encode(hmac.new(key, f"msg_p5jXN8AQM9LWM0D4loKWxJek.{TS}.{BODY_STD}".encode(), hashlib.sha256).digest()).decode()
out.append({"scheme": "standard", "secret": std_secret, "body": BODY_STD, "now": TS - 60,
            "headers": {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": str(TS),
                        # a rotated-out key's signature first: any v1 match accepts
                        "webhook-signature": "v1,Zm9yZ2VkLXNpZ25hdHVyZS1vZi1hbi1vbGQta2V5MTI= v1," + sig}})
for row in out:
    print(json.dumps(row, sort_keys=True))
