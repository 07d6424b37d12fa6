"""Apache Spark: the same portable SQL on a cluster, or in local mode for tests and CI.

The engine does what the protocol asks (:mod:`tracehop.engines.base`) and nothing more: each
list of store files becomes a temporary view with ``start_us = unix_micros(start_utc)``, each
Arrow table a DataFrame, and the matcher's SQL string runs unchanged through ``spark.sql``.

Session. One JVM per process: the first engine builds a :class:`SparkSession`, later engines
take a child session from it (``newSession()``: own temp views and SQL settings, shared
SparkContext), so two matchers never see each other's ``legs`` view. Where the session comes
from:

- a session already active in the process (``spark-submit``, a notebook, Databricks) is used
  as it is: the cluster's own configuration decides sizing;
- otherwise ``TRACEHOP_SPARK_MASTER`` (``yarn``, ``spark://host:7077``, ``k8s://...``) if
  set, with sizing left to ``spark-defaults.conf`` (``SPARK_CONF_DIR``);
- otherwise ``local[2]`` with the small configuration of :data:`LOCAL_CONF`, measured on the
  project's 2-core machines (research/distributed.md: 12-19 s to start, ~1 GB JVM).

Whatever the source, :data:`REQUIRED_CONF` is set on the engine's session: UTC as the session
time zone (timestamps come back as UTC instants) and no type inference on hive partition
values (``day`` stays a string, as in every other engine).

Files are read where they lie: local paths, or object-storage URLs (``s3a://``, ``gs://``,
``abfss://``) passed to Spark unchanged; Spark then needs the matching Hadoop connector and
credentials in its configuration (docs/scaling.md, "Reading the store on object storage").
The schema is given to the reader (LEG_SCHEMA), so no file footer is read to infer it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from tracehop.engines.base import START_US, TableSource
from tracehop.errors import EngineError, EngineMissingError
from tracehop.schema import LEG_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL_HINT: Final = "pip install 'tracehop[spark]'  (Spark also needs Java 17 or newer)"

#: Settings every tracehop Spark session gets, local or cluster.
REQUIRED_CONF: Final[dict[str, str]] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}

#: The small local-mode configuration (CI, tests, one machine). Two shuffle partitions on two
#: cores: the default 200 costs seconds of task scheduling per query on a few MB. The
#: broadcast threshold is explicit so that the plans do not change with Spark's default: the
#: inquiry table (a few thousand rows, a few hundred kB) is always broadcast, and a store day
#: file never is in practice. AQE stays on (skew-join splitting).
LOCAL_CONF: Final[dict[str, str]] = {
    "spark.master": "local[2]",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.autoBroadcastJoinThreshold": str(32 * 1024 * 1024),
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

_ROOT_LOCK = threading.Lock()
_ROOT: SparkSession | None = None

_SPARK_TYPES: Final[dict[pa.DataType, str]] = {
    pa.string(): "STRING",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
}


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        # The store writes UTC-adjusted instants; Spark reads them as TIMESTAMP (not _NTZ).
        return "TIMESTAMP"
    try:
        return _SPARK_TYPES[t]
    except KeyError:
        raise EngineError(f"no Spark type for the Arrow type {t}") from None


def leg_ddl(schema: pa.Schema = LEG_SCHEMA) -> str:
    """The store's schema as a Spark DDL string, for ``DataFrameReader.schema``."""
    return ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in schema)


def _import_pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError:
        raise EngineMissingError(
            "the Spark engine needs pyspark, which is not installed", hint=INSTALL_HINT
        ) from None
    return pyspark.sql


def _root_session() -> SparkSession:
    """The process's Spark session (see the module docstring for where it comes from)."""
    global _ROOT
    with _ROOT_LOCK:
        if _ROOT is not None and not _stopped(_ROOT):
            return _ROOT
        sql = _import_pyspark()
        active: SparkSession | None = sql.SparkSession.getActiveSession()
        if active is not None:
            _ROOT = active
            return active
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise EngineMissingError("the Spark engine needs Java, and none was found",
                                     hint="Install Java 17 or newer, or set JAVA_HOME")
        builder = sql.SparkSession.builder.appName("tracehop")
        master = os.environ.get("TRACEHOP_SPARK_MASTER")
        conf = dict(REQUIRED_CONF)
        if master:
            conf["spark.master"] = master
        else:
            conf.update(LOCAL_CONF)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session: SparkSession = builder.getOrCreate()
        except Exception as e:  # the JVM failed to start: Py4J or PySpark runtime errors
            raise EngineError(f"Spark could not start: {e}",
                              hint="Check Java (17+) and the Spark configuration") from None
        session.sparkContext.setLogLevel("WARN")
        _ROOT = session
        return session


def _stopped(session: SparkSession) -> bool:
    sc = session.sparkContext
    return bool(getattr(sc, "_jsc", None) is None)


def stop_session() -> None:
    """Stop the process's Spark session (tests and benchmarks call this at the end)."""
    global _ROOT
    with _ROOT_LOCK:
        if _ROOT is not None:
            _ROOT.stop()
            _ROOT = None


class SparkEngine:
    """Runs tracehop's portable SQL on Spark (see the module docstring)."""

    name = "spark"

    def __init__(self, *, conf: Mapping[str, str] | None = None) -> None:
        self._spark = _root_session().newSession()
        for key, value in {**REQUIRED_CONF, **(conf or {})}.items():
            self._spark.conf.set(key, value)
        self._views: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()  # temp views are per session: one query at a time
        self._pyspark_errors = _errors()

    @property
    def session(self) -> SparkSession:
        return self._spark

    def _frame(self, source: TableSource) -> DataFrame:
        if isinstance(source, pa.Table):
            return self._spark.createDataFrame(source)
        files = [str(f) for f in source]
        if files:
            frame = self._spark.read.schema(leg_ddl()).parquet(*files)
        else:
            # No file for that range: an empty relation with the store's columns.
            frame = self._spark.createDataFrame([], leg_ddl())
        from pyspark.sql import functions as F

        return frame.withColumn(START_US, F.unix_micros(F.col("start_utc")))

    def _register(self, name: str, source: TableSource) -> None:
        if not name.isidentifier():
            raise EngineError(f"table name {name!r} is not an identifier")
        if not isinstance(source, pa.Table):
            files = tuple(str(f) for f in source)
            if self._views.get(name) == files:
                return  # same files, same view: Spark keeps its file listing cached
            self._views[name] = files
        else:
            self._views.pop(name, None)
        self._frame(source).createOrReplaceTempView(name)

    def run(self, sql: str, tables: dict[str, TableSource]) -> pa.Table:
        with self._lock:
            try:
                for name, source in tables.items():
                    self._register(name, source)
                result: pa.Table = self._spark.sql(sql).toArrow()
            except self._pyspark_errors as e:
                # A local store file gone or cut short: the StoreError every store read gives
                # (file, day, the forget that gets past it), as DuckDB's lookups do. Files at
                # a URL cannot be looked at here: Spark's own message stands for them.
                from tracehop.engines.location import is_url
                from tracehop.store.damaged import first_damaged

                local = [f for src in tables.values() if not isinstance(src, pa.Table)
                         for f in map(str, src) if not is_url(f)]
                if (damaged := first_damaged(local, e)) is not None:
                    raise damaged from None
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise EngineError(f"Spark query failed: {first}",
                                  hint="This is a bug in tracehop, a damaged store file, or "
                                  "a store URL Spark cannot read (see docs/scaling.md)"
                                  ) from None
            return result

    def explain(self, sql: str, tables: dict[str, TableSource]) -> str:
        """The formatted physical plan (tests and the benchmark check the join strategy)."""
        with self._lock:
            for name, source in tables.items():
                self._register(name, source)
            plan: str = self._spark.sql(sql)._jdf.queryExecution().executedPlan().toString()
            return plan

    def close(self) -> None:
        """Drop this engine's views; the shared JVM stays up (see :func:`stop_session`)."""
        with self._lock:
            for name in list(self._views):
                self._spark.catalog.dropTempView(name)
            self._views.clear()


def _errors() -> tuple[type[BaseException], ...]:
    """The exception types a failed Spark query raises (PySpark's and Py4J's)."""
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError)
