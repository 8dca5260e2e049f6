// A bare STUN/TURN client over UDP (RFC 5389, RFC 5766), enough to ask a TURN server for an
// allocation by hand with long-term credentials, the way any TURN client would: no browser in
// the way, so a test sees the server's own answer (success, or the error code it refused with).
import crypto from 'node:crypto';
import dgram from 'node:dgram';

const MAGIC = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ALLOCATE_REQUEST = 0x0003;
const ALLOCATE_SUCCESS = 0x0103;
const ALLOCATE_ERROR = 0x0113;
const CREATE_PERMISSION_REQUEST = 0x0008;
const CREATE_PERMISSION_SUCCESS = 0x0108;
const CREATE_PERMISSION_ERROR = 0x0118;
const ATTR = {
  USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, REALM: 0x0014, NONCE: 0x0015,
  XOR_PEER_ADDRESS: 0x0012, XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019,
};

function attribute(type, value) {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
  return Buffer.concat([head, value, pad]);
}

/** A STUN message of `type` with `attrs` ([type, Buffer] pairs); with `key`, MESSAGE-INTEGRITY last. */
function message(type, txid, attrs, key = null) {
  const body = Buffer.concat(attrs.map(([t, v]) => attribute(t, v)));
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC, 4);
  txid.copy(header, 8);
  if (!key) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  // The HMAC covers everything before the attribute, with the length already counting it.
  header.writeUInt16BE(body.length + 24, 2);
  const mac = crypto.createHmac('sha1', key).update(Buffer.concat([header, body])).digest();
  return Buffer.concat([header, body, attribute(ATTR.MESSAGE_INTEGRITY, mac)]);
}

/** { type, txid, attrs: Map(type -> Buffer) } of a STUN message, or null if it is none. */
function parse(buf) {
  if (buf.length < 20 || buf.readUInt32BE(4) !== MAGIC) return null;
  const length = buf.readUInt16BE(2);
  const attrs = new Map();
  let off = 20;
  while (off + 4 <= 20 + length && off + 4 <= buf.length) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    attrs.set(type, buf.subarray(off + 4, off + 4 + len));
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), txid: buf.subarray(8, 20), attrs };
}

/** Send `msg` from `socket` to `port` on loopback; the answer with the same transaction id. */
function ask(socket, port, msg, timeout = 5000) {
  const txid = msg.subarray(8, 20);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.off('message', onMessage); reject(new Error(`no STUN answer from 127.0.0.1:${port} in ${timeout} ms`)); }, timeout);
    const onMessage = (data) => {
      const m = parse(data);
      if (!m || !m.txid.equals(txid)) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(m);
    };
    socket.on('message', onMessage);
    socket.send(msg, port, '127.0.0.1');
  });
}

async function withSocket(fn) {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  try {
    return await fn(socket);
  } finally {
    socket.close();
  }
}

/** Whether a STUN server answers a binding request on UDP `port` of loopback (within `timeout` ms). */
export async function stunAnswers(port, timeout = 300) {
  return withSocket(async (socket) => {
    try {
      const m = await ask(socket, port, message(BINDING_REQUEST, crypto.randomBytes(12), []), timeout);
      return m.type === BINDING_SUCCESS;
    } catch {
      return false;
    }
  });
}

function errorCode(m) {
  const v = m.attrs.get(ATTR.ERROR_CODE);
  return v ? (v[2] & 0x7) * 100 + v[3] : null;
}

/** An XOR-PEER-ADDRESS value for IPv4 `ip` and `port`. */
function xorAddress(ip, port) {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  ip.split('.').forEach((b, i) => { v[4 + i] = Number(b) ^ ((MAGIC >>> (24 - 8 * i)) & 0xff); });
  return v;
}

/**
 * Ask the TURN server on UDP `port` of loopback for a UDP relay allocation with `username` and
 * `password` (long-term credentials: first unauthenticated, to learn the realm and nonce, then
 * signed with MD5(username:realm:password)), and then, on success, a permission for each IPv4
 * address of `permit` (on the same allocation). Resolves to { ok: true, relayed: 'ip:port',
 * permissions: { ip: 'ok' | error code } } on success, { ok: false, code } when the server refuses
 * (401: bad credentials).
 */
export async function allocate(port, username, password, { permit = [] } = {}) {
  return withSocket(async (socket) => {
    const transport = [ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0])];
    const challenge = await ask(socket, port, message(ALLOCATE_REQUEST, crypto.randomBytes(12), [transport]));
    if (challenge.type !== ALLOCATE_ERROR || errorCode(challenge) !== 401) {
      throw new Error(`an unauthenticated allocate got type ${challenge.type.toString(16)}, code ${errorCode(challenge)}, not 401`);
    }
    const realm = challenge.attrs.get(ATTR.REALM);
    const nonce = challenge.attrs.get(ATTR.NONCE);
    if (!realm || !nonce) throw new Error('the 401 carries no realm or nonce');
    const key = crypto.createHash('md5').update(`${username}:${realm.toString('utf8')}:${password}`).digest();
    const signed = (attrs) => [...attrs, [ATTR.USERNAME, Buffer.from(username, 'utf8')], [ATTR.REALM, realm], [ATTR.NONCE, nonce]];
    const answer = await ask(socket, port, message(ALLOCATE_REQUEST, crypto.randomBytes(12), signed([transport]), key));
    if (answer.type === ALLOCATE_ERROR) return { ok: false, code: errorCode(answer) };
    if (answer.type !== ALLOCATE_SUCCESS) throw new Error(`unexpected answer type ${answer.type.toString(16)}`);
    const x = answer.attrs.get(ATTR.XOR_RELAYED_ADDRESS);
    if (!x || x[1] !== 0x01) throw new Error('a success without an IPv4 relayed address');
    const p = x.readUInt16BE(2) ^ (MAGIC >>> 16);
    const ip = [0, 1, 2, 3].map((i) => x[4 + i] ^ ((MAGIC >>> (24 - 8 * i)) & 0xff)).join('.');
    const permissions = {};
    for (const peer of permit) {
      const r = await ask(socket, port, message(CREATE_PERMISSION_REQUEST, crypto.randomBytes(12),
        signed([[ATTR.XOR_PEER_ADDRESS, xorAddress(peer, 9)]]), key));
      if (r.type === CREATE_PERMISSION_SUCCESS) permissions[peer] = 'ok';
      else if (r.type === CREATE_PERMISSION_ERROR) permissions[peer] = errorCode(r);
      else throw new Error(`unexpected answer type ${r.type.toString(16)}`);
    }
    return { ok: true, relayed: `${ip}:${p}`, permissions };
  });
}

/** The credential coturn expects with `use-auth-secret` for `username`: base64(HMAC-SHA1(secret, username)). */
export function turnPassword(secret, username) {
  return crypto.createHmac('sha1', secret).update(username).digest('base64');
}
