// A bare WebSocket client on Node's `net` (Node 20 has no WebSocket without a flag): enough to
// speak the signaling protocol by hand, the way someone without the app would.
import crypto from 'node:crypto';
import http from 'node:http';

/** Opens `url` (ws://host:port/path); resolves to { messages, closed, send(text), close(), next() }. */
export function rawWebSocket(url) {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: hostname, port, path: pathname,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on('upgrade', (_res, socket, head) => {
      const ws = { messages: [], closed: false, closeCode: null, waiters: [] };
      let buf = Buffer.alloc(0);
      const wake = () => { for (const w of ws.waiters.splice(0)) w(); };
      const onData = (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          if (buf.length < 2) break;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
          else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
          if (buf.length < off + len) break;
          const opcode = buf[0] & 0x0f;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (opcode === 0x1) ws.messages.push(payload.toString('utf8'));
          else if (opcode === 0x8) { ws.closed = true; ws.closeCode = len >= 2 ? payload.readUInt16BE(0) : null; }
          else if (opcode === 0x9) frame(0xa, payload);
        }
        wake();
      };
      socket.on('data', onData);
      socket.on('close', () => { ws.closed = true; wake(); });
      socket.on('error', () => {});
      const frame = (opcode, payload) => {
        if (socket.destroyed) return;
        const mask = crypto.randomBytes(4);
        const len = payload.length;
        const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
          : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
            : (() => { const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); return h; })();
        const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
        socket.write(Buffer.concat([head, mask, body]));
      };
      ws.send = (text) => frame(0x1, Buffer.from(text, 'utf8'));
      ws.close = () => { frame(0x8, Buffer.alloc(0)); socket.end(); };
      /** The `i`th text message (parsed), or null once the socket closed without it; 5 s at most. */
      ws.message = async (i) => {
        const deadline = Date.now() + 5000;
        while (ws.messages.length <= i && !ws.closed && Date.now() < deadline) {
          await new Promise((r) => { ws.waiters.push(r); setTimeout(r, 100); });
        }
        return i < ws.messages.length ? JSON.parse(ws.messages[i]) : null;
      };
      /** Resolves once the server closed the socket (true) or after 5 s (false). */
      // what came with the response head (the server's first message may have)
      onData(head);
      ws.waitClosed = async () => {
        const deadline = Date.now() + 5000;
        while (!ws.closed && Date.now() < deadline) await new Promise((r) => { ws.waiters.push(r); setTimeout(r, 100); });
        return ws.closed;
      };
      resolve(ws);
    });
    req.end();
  });
}
