"""boto3 straight to the S3 server, as a user would: the reference for the S3 section.

`upload_file` and `download_file` with the default TransferConfig (multipart above 8 MiB,
10 threads), on the same file and the same S3 server the proxied transfers use. Reports on
stdout in client_work.py's protocol (PHASE / RESULT / DONE lines), so bench.py reads both
the same way.

    python s3_direct.py --endpoint URL --bucket NAME --key KEY --big FILE --tmp DIR
    (credentials and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION)
"""

import argparse
import os
import shutil

import boto3

from client_work import Phase, emit, fresh_dir
from pagecache import make_room


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--big", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()

    s3 = boto3.client("s3", endpoint_url=args.endpoint)
    size = os.path.getsize(args.big)
    # As client_work.big_transfer does for the proxied transfers: every side starts with the
    # same free memory.
    make_room(size, args.tmp)
    with Phase("big_upload") as ph:
        s3.upload_file(args.big, args.bucket, args.key)
        ph.extra["bytes"] = size
    dst = fresh_dir(args.tmp, "down-boto3")
    got = os.path.join(dst, os.path.basename(args.big))
    make_room(size, args.tmp)
    with Phase("big_download") as ph:
        s3.download_file(args.bucket, args.key, got)
        ph.extra["bytes"] = size
    if os.path.getsize(got) != size:
        raise RuntimeError(f"downloaded {os.path.getsize(got)} bytes, uploaded {size}")
    shutil.rmtree(dst)
    emit("DONE", {})


if __name__ == "__main__":
    main()
