"""Vectors for the `sorted-json` webhook scheme (ARA, seed 003): the body as a sender might put
it on the wire, and Python's own `json.dumps(json.loads(body), sort_keys=True)`, the text the
sender signs. Regenerate with `python3 tests/vectors/sorted_json.py > tests/vectors/sorted_json.jsonl`.
Numbers are ones Python reads and writes back unchanged (no long decimals: Python would round
them through a float, where shiftbot keeps the text as sent)."""
import json

bodies = [
    '{"event_type":"price_shift","data":{"market_id":"KXBTC-26DEC","platform":"kalshi","old_price":0.42,"new_price":0.47}}',
    '{ "data" : { "z" : 1 , "a" : [ 3 , 2 , { "y" : null , "b" : true } ] } , "event_type" : "whale_alert" }',
    '{"data":{"title":"Élection présidentielle — 2028","emoji":"📈 up","cjk":"市场"},"event_type":"price_shift"}',
    '{"data":{"quote":"say \\"hi\\"","path":"C:\\\\x","ctl":"a\\nb\\tc\\r\\b\\f\\u0001\\u001f","slash":"a/b","esc":"\\u00e9\\u0041"},"event_type":"x"}',
    '{"data":{},"event_type":"empty","list":[],"nested":{"b":{"d":{},"c":[]},"a":false}}',
    '{"b":1,"a":2,"B":3,"_":4,"aa":5,"é":6,"Z":7}',
    '{"data":{"n":-12,"f":0.5,"e":100,"big":123456789012345678901234567890,"neg0":-0.25},"event_type":"n"}',
    '{"a":1,"a":2}',
    '[{"b":1,"a":0},"s",null]',
]
for body in bodies:
    print(json.dumps({"body": body, "canonical": json.dumps(json.loads(body), sort_keys=True)}))
