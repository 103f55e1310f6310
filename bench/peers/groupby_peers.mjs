// db-benchmark groupby questions in DuckDB (@duckdb/node-api) and Polars
// (nodejs-polars), from the npm registry, on the CSV groupby_bench made.
// Prints JSON lines like groupby_bench, with the same checksum.
//   node groupby_peers.mjs --csv FILE --threads 2 [--repeat 3] [--engines duckdb,polars] [--parquet FILE]
import { DuckDBInstance } from '@duckdb/node-api';
import pl from 'nodejs-polars';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, a) => (i % 2 ? acc : [...acc, [a[i].replace(/^--/, ''), a[i + 1]]]), []));
const csv = args.csv;
const threads = Number(args.threads ?? 2);
const repeat = Number(args.repeat ?? 3);
const engines = (args.engines ?? 'duckdb,polars').split(',');
const only = args.question ?? '';
const parquet = args.parquet ?? '';

const emit = (c, engine, seconds, answer, n) =>
  console.log(JSON.stringify({ suite: 'groupby', case: c, engine, seconds, answer, n }));
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e9;
const wanted = (name) => !only || name === only || name.startsWith(only + '_');

const SQL = [
  ['q1_sum_v1_by_id1', 'SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1'],
  ['q2_sum_v1_by_id1_id2', 'SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2'],
  ['q3_sum_v1_mean_v3_by_id3', 'SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3'],
  ['q4_mean_v1_v2_v3_by_id4', 'SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4'],
  ['q5_sum_v1_v2_v3_by_id6', 'SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6'],
  ['q6_median_sd_v3_by_id4_id5', 'SELECT id4, id5, median(v3) AS median_v3, stddev(v3) AS sd_v3 FROM x GROUP BY id4, id5'],
  ['q7_max_v1_minus_min_v2_by_id3', 'SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM x GROUP BY id3'],
  ['q8_largest_two_v3_by_id6', 'SELECT id6, v3 FROM (SELECT id6, v3, row_number() OVER (PARTITION BY id6 ORDER BY v3 DESC) AS r FROM x) WHERE r <= 2'],
  ['q9_regression_v1_v2_by_id2_id4', 'SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM x GROUP BY id2, id4'],
  ['q10_sum_v3_count_by_id1_id6', 'SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM x GROUP BY id1, id2, id3, id4, id5, id6'],
];

const K = 100;
const JOINS = [
  ['j1_small_inner_on_int', 'SELECT * FROM x JOIN small USING (id4)'],
  ['j2_medium_inner_on_int', 'SELECT * FROM x JOIN (SELECT id6, w FROM medium) m USING (id6)'],
  ['j3_medium_left_on_int', 'SELECT * FROM x LEFT JOIN (SELECT id6, w FROM medium) m USING (id6)'],
  ['j4_medium_inner_on_factor', 'SELECT * FROM x JOIN (SELECT id3, w FROM medium) m USING (id3)'],
  ['j5_big_inner_on_int', `SELECT * FROM (SELECT *, (id6 - 1) * ${K} + id4 AS k FROM x) JOIN big USING (k)`],
];

// The load, as every question: the median of `repeat` runs after an
// untimed one, each after `drop` has let the last run's table go. Returns
// the median and the last table.
async function timedLoad(drop, load) {
  const times = [];
  let last;
  for (let r = -1; r < repeat; ++r) {
    last = undefined;
    await drop();
    const t = now();
    last = await load();
    if (r >= 0) times.push(now() - t);
  }
  return [median(times), last];
}

async function duckdb() {
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await db.connect();
  const [load] = await timedLoad(() => con.run('DROP TABLE IF EXISTS x'),
                                 () => con.run(`CREATE TABLE x AS SELECT * FROM read_csv('${csv}', header = true)`));
  let t;
  const n = Number((await con.runAndReadAll('SELECT count(*) FROM x')).getRows()[0][0]);
  emit('load_csv', 'duckdb', load, n, n);
  if (parquet) {
    t = now();
    await con.run(`CREATE TABLE xp AS SELECT * FROM read_parquet('${parquet}')`);
    const lp = now() - t;
    const np = Number((await con.runAndReadAll('SELECT count(v1) FROM xp')).getRows()[0][0]);
    emit('load_parquet', 'duckdb', lp, np, np);
    await con.run('DROP TABLE xp');
  }
  const nk = Math.max(1, Math.floor(n / K));
  await con.run(`CREATE TABLE small AS SELECT i::BIGINT AS id4, i * 0.5 AS w FROM range(1, ${K + 1}) t(i)`);
  await con.run(`CREATE TABLE medium AS SELECT i::BIGINT AS id6, printf('id%010d', i) AS id3, (i % 7) + 0.25 AS w FROM range(1, ${nk + 1}) t(i)`);
  // big: every key k in 1..N but the multiples of 10, as groupby_bench makes it.
  await con.run(`CREATE TABLE big AS SELECT i::BIGINT AS k, (i % 13) + 0.5 AS w FROM range(1, ${nk * K + 1}) t(i) WHERE i % 10 <> 0`);
  for (const [name, q] of [...SQL, ...JOINS]) {
    if (!wanted(name)) continue;
    const times = [];
    let answer = 0;
    for (let r = -1; r < repeat; ++r) {  // run -1: the warm-up, not timed
      await con.run('DROP TABLE IF EXISTS ans');
      t = now();
      await con.run(`CREATE TABLE ans AS ${q}`);
      if (r >= 0) times.push(now() - t);
      const cols = (await con.runAndReadAll('SELECT * FROM ans LIMIT 0')).columnNames();
      const types = (await con.runAndReadAll("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ans'")).getRows();
      const numeric = types.filter(([, ty]) => !/VARCHAR/.test(ty)).map(([c]) => `coalesce(sum("${c}")::DOUBLE, 0)`);
      const sums = (await con.runAndReadAll(`SELECT count(*)::DOUBLE ${numeric.length ? ', ' + numeric.join(', ') : ''} FROM ans`)).getRows()[0];
      answer = sums.reduce((a, b) => a + Number(b), 0);
      void cols;
    }
    emit(name, 'duckdb', median(times), answer, n);
  }
  // Polars runs next in this process: give its loads the memory back.
  await con.run('DROP TABLE IF EXISTS ans; DROP TABLE x; DROP TABLE small; DROP TABLE medium; DROP TABLE big');
}

async function polars() {
  // The last frame's native memory goes with its JS object: collect it
  // (bench/run starts node with --expose-gc), and let its finalizers run,
  // so that each load starts where skein's and DuckDB's do, the last one
  // dropped.
  const collect = async () => {
    if (!globalThis.gc) return;
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
    globalThis.gc();
  };
  const [load, x] = await timedLoad(collect, () =>
    pl.readCSV(csv).withColumns(pl.col('id1').cast(pl.Categorical), pl.col('id2').cast(pl.Categorical), pl.col('id3').cast(pl.Categorical)));
  let t;
  const n = x.height;
  emit('load_csv', 'polars', load, n, n);
  if (parquet) {
    t = now();
    const xp = pl.readParquet(parquet);
    const lp = now() - t;
    emit('load_parquet', 'polars', lp, xp.height, xp.height);
  }
  const c = pl.col;
  const Q = [
    ['q1_sum_v1_by_id1', () => x.groupBy('id1').agg(c('v1').sum())],
    ['q2_sum_v1_by_id1_id2', () => x.groupBy(['id1', 'id2']).agg(c('v1').sum())],
    ['q3_sum_v1_mean_v3_by_id3', () => x.groupBy('id3').agg(c('v1').sum(), c('v3').mean())],
    ['q4_mean_v1_v2_v3_by_id4', () => x.groupBy('id4').agg(c('v1').mean(), c('v2').mean(), c('v3').mean())],
    ['q5_sum_v1_v2_v3_by_id6', () => x.groupBy('id6').agg(c('v1').sum(), c('v2').sum(), c('v3').sum())],
    ['q6_median_sd_v3_by_id4_id5', () => x.groupBy(['id4', 'id5']).agg(c('v3').median().alias('median_v3'), c('v3').std().alias('sd_v3'))],
    ['q7_max_v1_minus_min_v2_by_id3', () => x.groupBy('id3').agg(c('v1').max().minus(c('v2').min()).alias('range_v1_v2'))],
    ['q8_largest_two_v3_by_id6', () => x.select('id6', 'v3').sort('v3', true).groupBy('id6').agg(c('v3').head(2)).explode('v3')],
    ['q9_regression_v1_v2_by_id2_id4', () => x.groupBy(['id2', 'id4']).agg(pl.pearsonCorr(c('v1'), c('v2')).pow(2).alias('r2'))],
    ['q10_sum_v3_count_by_id1_id6', () => x.groupBy(['id1', 'id2', 'id3', 'id4', 'id5', 'id6']).agg(c('v3').sum(), c('v1').count().alias('count'))],
  ];
  const nk = Math.max(1, Math.floor(n / K));
  const ids = Array.from({ length: nk }, (_, i) => i + 1);
  const small = pl.DataFrame({ id4: Array.from({ length: K }, (_, i) => i + 1), w: Array.from({ length: K }, (_, i) => (i + 1) * 0.5) })
    .withColumns(pl.col('id4').cast(pl.Int64));
  const medium = pl.DataFrame({ id6: ids, id3: ids.map((i) => 'id' + String(i).padStart(10, '0')), w: ids.map((i) => (i % 7) + 0.25) })
    .withColumns(pl.col('id6').cast(pl.Int64));
  const xs = x.withColumns(pl.col('id3').cast(pl.Utf8).alias('id3s'));
  Q.push(['j1_small_inner_on_int', () => x.join(small, { on: 'id4', how: 'inner' })]);
  Q.push(['j2_medium_inner_on_int', () => x.join(medium.select('id6', 'w'), { on: 'id6', how: 'inner' })]);
  Q.push(['j3_medium_left_on_int', () => x.join(medium.select('id6', 'w'), { on: 'id6', how: 'left' })]);
  Q.push(['j4_medium_inner_on_factor', () => xs.join(medium.select(pl.col('id3').alias('id3s'), 'w'), { on: 'id3s', how: 'inner' }).drop('id3s')]);
  const bigKeys = [];
  for (let i = 1; i <= nk * K; ++i) if (i % 10 !== 0) bigKeys.push(i);
  const big = pl.DataFrame({ k: bigKeys, w: bigKeys.map((i) => (i % 13) + 0.5) }).withColumns(pl.col('k').cast(pl.Int64));
  Q.push(['j5_big_inner_on_int', () => x.withColumns(c('id6').minus(1).mul(K).plus(c('id4')).cast(pl.Int64).alias('k')).join(big, { on: 'k', how: 'inner' })]);
  for (const [name, q] of Q) {
    if (!wanted(name)) continue;
    const times = [];
    let answer = 0;
    for (let r = -1; r < repeat; ++r) {  // run -1: the warm-up, not timed
      t = now();
      const out = q();
      if (r >= 0) times.push(now() - t);
      answer = out.height;
      for (const col of out.getColumns()) {
        if (col.isNumeric()) answer += Number(col.sum() ?? 0);
      }
    }
    emit(name, 'polars', median(times), answer, n);
  }
}

if (engines.includes('duckdb')) await duckdb();
if (engines.includes('polars')) await polars();
