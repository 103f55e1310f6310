// Parquet interop with DuckDB (@duckdb/node-api from npm), driven by
// src/io/parquet/parquet_duckdb_test.cc:
//   node parquet_interop.mjs write DIR N   DuckDB writes DIR/duck_<codec>_<version>.parquet,
//                                          N rows of the formulas below
//   node parquet_interop.mjs read FILE     DuckDB reads a file skein wrote and
//                                          prints aggregates as one JSON line
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, target, n] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();

// Row i of the table both sides agree on (the test computes the same in C++).
const ROWS = (count) => `
  SELECT i::BIGINT AS i64,
         CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 1000 - 500)::INTEGER END AS i32,
         (i / 8.0)::DOUBLE AS f64,
         (i % 100 / 4.0)::FLOAT AS f32,
         CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
         CASE WHEN i % 7 = 0 THEN NULL ELSE 'k' || (i % 50)::VARCHAR END AS s,
         'row-' || i::VARCHAR AS u,
         TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i) AS ts_us,
         (TIMESTAMP '2020-01-01 00:00:00' + to_seconds(i))::TIMESTAMP_NS AS ts_ns,
         DATE '2020-01-01' + (i % 400)::INTEGER AS d,
         (i % 1000 / 100)::DECIMAL(9, 2) AS dec
  FROM range(${count}) t(i)`;

if (mode === 'write') {
  for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4']) {
    for (const version of ['V1', 'V2']) {
      const file = `${target}/duck_${codec}_${version}.parquet`;
      await con.run(`COPY (${ROWS(Number(n))}) TO '${file}'
                     (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 2048)`);
    }
  }
} else if (mode === 'read') {
  const r = await con.runAndReadAll(`
    SELECT count(*)::BIGINT AS rows, sum(i64)::BIGINT AS sum_i64, count(i32)::BIGINT AS n_i32, sum(i32)::BIGINT AS sum_i32,
           sum(f64)::DOUBLE AS sum_f64, count(b)::BIGINT AS n_b, sum(b::INTEGER)::BIGINT AS true_b,
           count(s)::BIGINT AS n_s, min(s) AS min_s, max(s) AS max_s, count(DISTINCT s)::BIGINT AS distinct_s,
           sum(epoch_ns(ts))::DOUBLE AS sum_ts, sum(d - DATE '1970-01-01')::BIGINT AS sum_d,
           count(DISTINCT cat)::BIGINT AS distinct_cat, count(cat)::BIGINT AS n_cat
    FROM read_parquet('${target}')`);
  const row = r.getRowObjectsJson()[0];
  console.log(JSON.stringify(row));
} else {
  console.error('usage: node parquet_interop.mjs write DIR N | read FILE');
  process.exit(2);
}
