'use strict'
// node-postgres as a KeyBuzz Node app uses it: `new pg.Client()` with no arguments, so the driver reads
// PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD and PGSSLMODE from the environment and nothing else
// decides how it connects (NODE_EXTRA_CA_CERTS, read by node itself, adds trusted CAs). Run by
// lab/node_pg.py with exactly the environment under test. Prints one JSON line: what the session is
// (session_user, current_user, database, ssl from pg_stat_ssl), or the error; exits 0 if connected.
//
// Usage: node probe.js [--timeout-ms N]   (default 10000: a probe never hangs a test)

const pg = require('pg')
const { version } = require('pg/package.json')

const WHO = 'SELECT session_user, current_user, current_database() AS database'
// Asked as the session user: an app's dynamic user runs as its database's owner group (SET ROLE), and
// PostgreSQL shows another role's session details, pg_stat_ssl's included, as NULL.
const TLS = ['BEGIN', 'SET LOCAL ROLE NONE', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', 'COMMIT']

function timeoutMs() {
  const at = process.argv.indexOf('--timeout-ms')
  return at > 0 ? Number(process.argv[at + 1]) : 10000
}

function report(result) {
  process.stdout.write(JSON.stringify({ driver: `pg ${version}`, ...result }) + '\n')
}

async function main() {
  const limit = timeoutMs()
  const timer = setTimeout(() => {
    report({ ok: false, error: `no answer within ${limit} ms`, code: 'PROBE_TIMEOUT' })
    process.exit(1)
  }, limit)
  const client = new pg.Client()
  let code = 0
  try {
    await client.connect()
    const { rows } = await client.query(WHO)
    const results = []
    for (const statement of TLS) results.push(await client.query(statement))
    report({ ok: true, ...rows[0], ssl: results[2].rows[0] ? results[2].rows[0].ssl : null })
  } catch (err) {
    // err.code: a TLS verification code from node (UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...) or a SQLSTATE.
    report({ ok: false, error: String(err.message || err), code: err.code || null })
    code = 1
  }
  await client.end().catch(() => {})
  clearTimeout(timer)
  process.exitCode = code
}

main()
