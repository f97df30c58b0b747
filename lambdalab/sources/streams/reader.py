"""Read a stream's shards from the data plane: Kinesis or DynamoDB Streams GetRecords.

Each shard's iterator is taken once, when the mapping is created, and followed from then on: so
``LATEST`` means "records written after the mapping was created" and ``TRIM_HORIZON`` the oldest
record the stream keeps. ``AT_TIMESTAMP`` reads from the trim horizon and keeps records that
arrived (on the engine's clock) at or after the timestamp. moto's DynamoDB stream has one shard.
"""

from __future__ import annotations

from typing import Any

from lambdalab.dataplane import datachanges
from lambdalab.sources.streams.config import AT_TIMESTAMP, DYNAMODB, LATEST, StreamEventSourceConfig

GET_RECORDS_LIMIT = {"kinesis": 10_000, "dynamodb": 1_000}  # the APIs' own maxima per call
DYNAMODB_RETENTION_S = 24 * 3600  # DynamoDB Streams keep records for 24 hours [DDBS]


class ShardReader:
    """Follows every shard of one stream; ``read`` returns what was written since the last read."""

    def __init__(self, dataplane: Any, config: StreamEventSourceConfig, stream_name: str | None):
        self._kind = config.kind
        self._arn = config.EventSourceArn
        self._stream_name = stream_name
        self._client = dataplane.client("dynamodbstreams" if config.kind == DYNAMODB else "kinesis")
        # whose writes add records: the table (its name is in the stream's ARN) or the stream
        self._changes = ("dynamodb", self._arn.split(":", 5)[5].split("/")[1]) if config.kind == DYNAMODB \
            else ("kinesis", str(stream_name))
        self._read_all_at: dict[str, tuple[int, int]] = {}  # shard -> data version when last read to its end
        iterator_type = LATEST if config.StartingPosition == LATEST else "TRIM_HORIZON"
        self.shard_ids = self._shard_ids()
        self._iterators: dict[str, str | None] = {
            shard: self._iterator(shard, iterator_type) for shard in self.shard_ids
        }
        self.retention_s = self._retention()
        self.starting_timestamp = config.StartingPositionTimestamp if config.StartingPosition == AT_TIMESTAMP else None

    def _shard_ids(self) -> list[str]:
        if self._kind == DYNAMODB:
            shards = self._client.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        else:
            shards = self._client.describe_stream(StreamName=self._stream_name)["StreamDescription"]["Shards"]
        return [s["ShardId"] for s in shards]

    def _retention(self) -> float:
        if self._kind == DYNAMODB:
            return DYNAMODB_RETENTION_S
        summary = self._client.describe_stream_summary(StreamName=self._stream_name)["StreamDescriptionSummary"]
        return float(summary.get("RetentionPeriodHours", 24)) * 3600

    def _iterator(self, shard: str, iterator_type: str) -> str:
        if self._kind == DYNAMODB:
            answer = self._client.get_shard_iterator(StreamArn=self._arn, ShardId=shard,
                                                     ShardIteratorType=iterator_type)
        else:
            answer = self._client.get_shard_iterator(StreamName=self._stream_name, ShardId=shard,
                                                     ShardIteratorType=iterator_type)
        return str(answer["ShardIterator"])

    def read(self, shard: str) -> list[dict[str, Any]]:
        """Every record of ``shard`` written since the last read, oldest first (raw GetRecords records).

        Not sent when nothing was written to the stream since a read that reached the shard's end."""
        version = datachanges.version(*self._changes)
        if self._read_all_at.get(shard) == version:
            return []
        iterator = self._iterators.get(shard)
        records: list[dict[str, Any]] = []
        limit = GET_RECORDS_LIMIT[self._kind]
        while iterator:
            answer = self._client.get_records(ShardIterator=iterator, Limit=limit)
            got = answer.get("Records", [])
            records += got
            iterator = answer.get("NextShardIterator") or iterator
            if len(got) < limit:
                self._read_all_at[shard] = version
                break
        self._iterators[shard] = iterator
        return records
