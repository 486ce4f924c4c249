#!/usr/bin/env python3
"""Test data for bench/run.sh: an app and its users in the sandbox, and request bodies with fresh consent codes.

Every verification spends a single-use code, so each request body carries its own, fetched in bulk from the
sandbox admin API (`POST /sandbox/consent/bulk`) before the clock starts. Two body formats hold the same
verification: `gateway` (POST /v1/verifications) and `wechat` (POST /intp/realname/checkrealnameinfo, what the
gateway itself sends upstream, and what nginx forwards untouched).

    prepare.py app    --sandbox URL --appid A --secret S --users N --out users.json
    prepare.py bodies --sandbox URL --users users.json --count N --format gateway|wechat --out FILE
    prepare.py people --sandbox URL --users users.json --tencent ID:KEY      # the paid providers' record
    prepare.py idchecks --users users.json --count N --out FILE              # POST /v1/idchecks bodies

`people` registers the same users as the authoritative record of the sandbox's paid providers (Tencent FaceID,
Aliyun Cloudauth) and the Tencent credentials the gateway signs with; `idchecks` needs no code, so its bodies
cycle through the users.

All names and ID numbers are generated and fictional.
"""

import argparse
import datetime
import json
import random
import sys
import urllib.request

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华玉兰萍红建文辉宁波斌国庆春晓燕东海"
# Province codes the validator accepts (GB/T 2260 first two digits).
PROVINCES = ["11", "12", "31", "32", "33", "44", "51", "65"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
BULK = 2000  # openids per bulk request: the sandbox caps admin bodies at 64 KiB


def post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def cred_id(rng):
    birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randrange(14_600))
    body = f"{rng.choice(PROVINCES)}{rng.randrange(10_000):04d}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def cmd_app(a):
    rng = random.Random(a.seed)
    post(f"{a.sandbox}/sandbox/apps", {"appid": a.appid, "secret": a.secret, "realname_permission": True})
    users = []
    for i in range(a.users):
        u = {
            "openid": f"oBENCH-{i:06d}",
            "real_name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2))),
            "cred_id": cred_id(rng),
        }
        post(f"{a.sandbox}/sandbox/users", {"appid": a.appid, **u})
        users.append(u)
    with open(a.out, "w") as f:
        json.dump({"appid": a.appid, "users": users}, f, ensure_ascii=False)


def cmd_bodies(a):
    with open(a.users) as f:
        data = json.load(f)
    appid, users = data["appid"], data["users"]
    written = 0
    with open(a.out, "w") as out:
        while written < a.count:
            n = min(BULK, a.count - written)
            batch = [users[(written + i) % len(users)] for i in range(n)]
            codes = post(f"{a.sandbox}/sandbox/consent/bulk", {"appid": appid, "openids": [u["openid"] for u in batch]})[
                "codes"
            ]
            for u, code in zip(batch, codes):
                if a.format == "gateway":
                    body = {"appid": appid, **u, "code": code, "purpose": "bench"}
                else:
                    body = {**u, "cred_type": "1", "code": code}
                out.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
            written += n
    print(f"{a.out}: {written} bodies", file=sys.stderr)


def cmd_people(a):
    with open(a.users) as f:
        users = json.load(f)["users"]
    secret_id, secret_key = a.tencent.split(":", 1)
    post(f"{a.sandbox}/sandbox/providers/tencent", {"secret_id": secret_id, "secret_key": secret_key})
    for u in users:
        post(f"{a.sandbox}/sandbox/people", {"name": u["real_name"], "cred_id": u["cred_id"]})
    print(f"{len(users)} people registered", file=sys.stderr)


def cmd_idchecks(a):
    with open(a.users) as f:
        users = json.load(f)["users"]
    with open(a.out, "w") as out:
        for i in range(a.count):
            u = users[i % len(users)]
            body = {"real_name": u["real_name"], "cred_id": u["cred_id"], "purpose": "bench", "consent_ref": f"bench-{i}"}
            out.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{a.out}: {a.count} bodies", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    app = sub.add_parser("app")
    app.add_argument("--sandbox", required=True)
    app.add_argument("--appid", required=True)
    app.add_argument("--secret", required=True)
    app.add_argument("--users", type=int, default=1000)
    app.add_argument("--seed", type=int, default=6)
    app.add_argument("--out", required=True)
    bodies = sub.add_parser("bodies")
    bodies.add_argument("--sandbox", required=True)
    bodies.add_argument("--users", required=True)
    bodies.add_argument("--count", type=int, required=True)
    bodies.add_argument("--format", choices=["gateway", "wechat"], required=True)
    bodies.add_argument("--out", required=True)
    people = sub.add_parser("people")
    people.add_argument("--sandbox", required=True)
    people.add_argument("--users", required=True)
    people.add_argument("--tencent", required=True, help="SECRET_ID:SECRET_KEY")
    idchecks = sub.add_parser("idchecks")
    idchecks.add_argument("--users", required=True)
    idchecks.add_argument("--count", type=int, required=True)
    idchecks.add_argument("--out", required=True)
    a = p.parse_args()
    {"app": cmd_app, "bodies": cmd_bodies, "people": cmd_people, "idchecks": cmd_idchecks}[a.cmd](a)


if __name__ == "__main__":
    main()
