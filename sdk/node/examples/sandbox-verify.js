// From zero to an accepted verification against the sandbox (docs/partner-api.md "The sandbox"):
// a test partner, a test resident's e-card code, a signed verification, the verification read
// back, the day's statement (JSON and the signed CSV). Prints one JSON line with the results.
//   node examples/sandbox-verify.js [BASE_URL]       (default http://127.0.0.1:8000)
import { PartnerClient } from '../src/partner.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8000';

/** @param {string} path @param {unknown} json */
async function sandbox(path, json) {
  const answer = await fetch(`${base}/api/sandbox/v1${path}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(json),
  });
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${await answer.text()}`);
  return answer.json();
}

const partner = await sandbox('/partners', { scenes: ['transit'] });
const client = new PartnerClient(base, { partnerId: partner.partner_id, secret: partner.secret });
const { code } = await sandbox('/e-card-codes', { resident: 1 });

const accepted = await client.verify({ code, scene: 'transit', terminal_id: partner.terminals[0] });
const refused = await client.verify({ code, scene: 'transit', terminal_id: partner.terminals[1] });
const record = await client.verification(accepted.verification_id);
const day = record.verified_at.slice(0, 10); // the day at +08:00, as the answer says
const statement = await client.statement(day);
const csv = await client.statementCsv(day);

console.log(JSON.stringify({
  accepted: accepted.accepted,
  subject: accepted.subject,
  refused: refused.reason,
  verified_at: record.verified_at,
  statement: statement.verifications.map((/** @type {{verification_id: string}} */ row) => row.verification_id),
  totals: statement.totals,
  csv_rows: csv.trim().split('\n').length - 1,
}));
