import { serverFixture } from './harness.mjs';
const f = await serverFixture(['--rate-per-sec', '1000000', '--rate-burst', '1000000']);
await f.start();
const url = `ws://127.0.0.1:${f.port}/ws`;
const open = (hello, onmsg) => new Promise((ok) => { const ws = new WebSocket(url); ws.onopen = () => { ws.send(JSON.stringify(hello)); ok(ws); }; ws.onmessage = (e) => onmsg(JSON.parse(e.data), ws); });
let token, cursor;
await new Promise(async (ok) => { await open({ type: 'hello', protocol: 1, auth: { kind: 'guest', name: 'alice', color: '#2b7a78', project: 'lobby' } }, (m, ws) => {
  if (m.type === 'welcome') { token = m.session_token; ws.send(JSON.stringify({ type: 'send', client_id: 'a-1', to: { kind: 'room' }, body: 'x' })); }
  if (m.type === 'ack') { cursor = m.id; ws.close(); ok(); } }); });
const N = 10000;
await new Promise(async (ok) => { let acked = 0; await open({ type: 'hello', protocol: 1, auth: { kind: 'guest', name: 'bot', color: '#2b7a78', project: 'lobby' } }, (m, ws) => {
  if (m.type === 'welcome') for (let i = 1; i <= N; i++) ws.send(JSON.stringify({ type: 'send', client_id: `b-${i}`, to: { kind: 'room' }, body: `catchup ${i}` }));
  if (m.type === 'ack' && ++acked === N) { ws.close(); ok(); } }); });
for (let r = 0; r < 3; r++) {
const t0 = performance.now(); let n = 0, tw;
await new Promise(async (ok) => { await open({ type: 'hello', protocol: 1, auth: { kind: 'token', token }, cursor }, (m, ws) => {
  if (m.type === 'welcome') tw = performance.now() - t0;
  if (m.type === 'message') n++;
  if (m.type === 'synced') { console.log(`welcome ${tw.toFixed(0)} ms, ${n} replayed, synced after ${(performance.now() - t0).toFixed(0)} ms`); ws.close(); ok(); } }); });
}
await f.cleanup();
