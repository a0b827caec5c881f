// A static mock of the relay's viewer routes for the browser tests: serves viewer-lib/web and a
// study exported by tsunagu_viewer_export_study under /v/<token>/, with the link states the relay
// answers (expired 410, revoked 403, locked 423, access code 401 then a cookie). Query strings are
// ignored: a rendered frame is the exported default-window JPEG whatever window is asked for.
// Listens on 127.0.0.1, port 0 (the caller reads the port).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json' };
export const ACCESS_CODE = '2468';
const MAX_FAILURES = 5;

export function startServer({ webDir, studyDir }) {
  let failures = 0;
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requests.push(url.pathname + url.search);
    const m = url.pathname.match(/^\/v\/([a-z]+)\/(.*)$/);
    const headers = {
      'Cache-Control': 'private, no-store',
      'Content-Security-Policy':
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      'Referrer-Policy': 'no-referrer',
    };
    const send = (status, body, type) => {
      res.writeHead(status, { ...headers, 'Content-Type': type || 'application/json' });
      res.end(body);
    };
    if (!m) return send(404, '{"error":"not_found"}');
    const [, token, rest] = m;
    const authorized = token === 'demo' ||
      (token === 'code' && (req.headers.cookie || '').includes('tsunagu_code=ok'));
    if (rest === '' || rest === 'index.html' || /^[a-z0-9]+\.(js|css)$/.test(rest)) {
      const file = path.join(webDir, rest === '' ? 'index.html' : rest);
      if (!fs.existsSync(file)) return send(404, '{"error":"not_found"}');
      return send(200, fs.readFileSync(file), TYPES[path.extname(file)]);
    }
    if (rest === 'access-code' && req.method === 'POST' && token === 'code') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        if (failures >= MAX_FAILURES) return send(423, '{"error":"locked"}');
        let code = '';
        try { code = JSON.parse(body).code; } catch (e) { code = ''; }
        if (code === ACCESS_CODE) {
          res.writeHead(204, { ...headers, 'Set-Cookie': 'tsunagu_code=ok; Path=/v/code/; HttpOnly; SameSite=Strict' });
          return res.end();
        }
        failures += 1;
        return send(failures >= MAX_FAILURES ? 423 : 401, '{"error":"access_code_wrong"}');
      });
      return undefined;
    }
    if (token === 'expired') return send(410, '{"error":"expired"}');
    if (token === 'revoked') return send(403, '{"error":"revoked"}');
    if (token === 'locked') return send(423, '{"error":"locked"}');
    if (!authorized) return send(401, '{"error":"access_code_required"}');
    const file = path.join(studyDir, path.normalize(rest).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(studyDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      return send(404, '{"error":"not_found"}');
    }
    return send(200, fs.readFileSync(file), rest === 'summary.json' ? 'application/json' : 'image/jpeg');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, requests }));
  });
}
