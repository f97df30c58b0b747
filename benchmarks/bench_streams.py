"""Stream polling speed, measured in one run so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/bench_streams.py

10,000 records over 4 Kinesis shards through a trivial function, on the virtual clock, at
BatchSize 100 (the default) and 1,000: records per second of wall time, against the rate at which
plain GetRecords calls on the same moto server read the same records (the floor any poller needs).
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud  # noqa: E402

RECORDS, SHARDS = 10_000, 4
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Events:
        Type: AWS::Kinesis::Stream
        Properties: {ShardCount: 4}
      Trivial:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/
          Handler: app.handler
          Runtime: python3.12
          Events:
            Stream:
              Type: Kinesis
              Properties: {Stream: !GetAtt Events.Arn, StartingPosition: TRIM_HORIZON, BatchSize: BATCH}
""")


def put_records(cloud: LocalCloud) -> None:
    kinesis, name = cloud.client("kinesis"), cloud.resource("Events")
    for start in range(0, RECORDS, 500):
        entries = [{"Data": b'{"n": %d}' % n, "PartitionKey": f"key-{n}"} for n in range(start, start + 500)]
        assert not kinesis.put_records(StreamName=name, Records=entries).get("FailedRecordCount")


def raw_get_records(cloud: LocalCloud, limit: int) -> float:
    """Records per second read by plain GetRecords calls, ``limit`` per call, every shard from the start."""
    kinesis, name = cloud.client("kinesis"), cloud.resource("Events")
    shards = [s["ShardId"] for s in kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"]]
    began, read = time.perf_counter(), 0
    for shard in shards:
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        it = iterator["ShardIterator"]
        while True:
            answer = kinesis.get_records(ShardIterator=it, Limit=limit)
            read += len(answer["Records"])
            it = answer["NextShardIterator"]
            if not answer["Records"]:
                break
    assert read == RECORDS, read
    return read / (time.perf_counter() - began)


def engine_rate(folder: Path, batch: int) -> tuple[float, float, int]:
    (folder / "template.yaml").write_text(TEMPLATE.replace("BATCH", str(batch)))
    with LocalCloud.start(folder / "template.yaml") as cloud:
        cloud.invoke("Trivial", {"warm": True})  # a warm environment, as a busy mapping would have
        put_records(cloud)
        began = time.perf_counter()
        cloud.run_until_idle()
        elapsed = time.perf_counter() - began
        stats = cloud.event_source_mapping("Trivial").stats
        assert stats.checkpointed == RECORDS, stats
        raw = raw_get_records(cloud, batch)
        return RECORDS / elapsed, raw, stats.invocations


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "src").mkdir()
        (folder / "src" / "app.py").write_text("def handler(event, context):\n    return None\n")
        print(f"{RECORDS:,} records over {SHARDS} shards through a trivial function (virtual clock)")
        for batch in (100, 1000):
            rate, raw, invocations = engine_rate(folder, batch)
            print(f"  BatchSize {batch:>5}: {rate:8,.0f} records/s through the engine ({invocations} invocations); "
                  f"raw moto GetRecords (Limit {batch}) {raw:8,.0f} records/s; ratio {rate / raw:.2f}")


if __name__ == "__main__":
    main()
