//! Membership changes as Lua scripts: each runs atomically in Redis, so the room limit holds
//! across instances (count and add are one step), and the event announcing a change is published
//! by the same step that makes it (no member without its `joined`, no `left` without a removal).
//!
//! Expiry uses Redis' own clock (`TIME`), so the instances' clocks do not have to agree.

use redis::{aio::MultiplexedConnection, Script};

use super::wire::{member, room_key, Event, MEMBERS_CHANNEL};

/// Common prelude: `now` in milliseconds, `announce(kind, member)` which publishes a
/// `joined`/`left` event for a stored `"<peer> <instance>"` member of room `ARGV[1]`, and
/// `reap()` which removes and announces expired members (at most 256 a call: what each script
/// does, and what it returns, stays bounded even if someone stuffed the set).
const PRELUDE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function announce(kind, m)
  local peer, instance = string.match(m, '^(%S+) (%S+)$')
  if peer then
    redis.call('PUBLISH', ARGV[2], cjson.encode({type = kind, room = ARGV[1], peer = peer, instance = instance}))
  end
end
local function reap()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 256)
  for _, m in ipairs(expired) do
    redis.call('ZREM', KEYS[1], m)
    announce('left', m)
  end
end
"#;

/// KEYS: room set. ARGV: room, channel, ttl ms, max peers, member.
/// Returns `{"full"}`, or `{"ok", member...}` with every member after the join (at most max
/// peers + 1). The join is not
/// announced here but by the instance once the peer is in its room ([`Scripts::announce`]), so
/// that no signal for it can arrive before it is there to take it.
const JOIN: &str = r#"
reap()
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return {'full'} end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[5])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
local out = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[4]))
table.insert(out, 1, 'ok')
return out
"#;

/// KEYS: room set. ARGV: room, channel, member. Returns 1 if it was a member.
const LEAVE: &str = r#"
local removed = redis.call('ZREM', KEYS[1], ARGV[3])
if removed == 1 then announce('left', ARGV[3]) end
return removed
"#;

/// KEYS: room set. ARGV: room, channel, ttl ms, mode, limit, member... (this instance's members
/// of the room). Extends their expiry; with mode `add` (a resync: after an outage, or after this
/// instance found one of its members gone) also adds, and announces, those that are missing;
/// with `xx` only those still there (so a peer that left meanwhile is not brought back). Then
/// removes the expired members of every instance. Returns every member (at most `limit`).
const REFRESH: &str = r#"
local ttl = tonumber(ARGV[3])
for i = 6, #ARGV do
  if ARGV[4] == 'add' then
    if redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) == 1 then announce('joined', ARGV[i]) end
  else
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  end
end
reap()
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
"#;

/// The three scripts, compiled (hashed) once.
#[derive(Debug)]
pub struct Scripts {
    join: Script,
    leave: Script,
    refresh: Script,
}

/// What Redis said to a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinReply {
    /// The room holds its maximum across all instances.
    Full,
    /// Joined; every member now (`"<peer> <instance>"`, the joiner included).
    Members(Vec<String>),
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            join: Script::new(&format!("{PRELUDE}{JOIN}")),
            leave: Script::new(&format!("{PRELUDE}{LEAVE}")),
            refresh: Script::new(&format!("{PRELUDE}{REFRESH}")),
        }
    }
}

impl Scripts {
    pub async fn join(
        &self,
        conn: &mut MultiplexedConnection,
        room: &str,
        peer: &str,
        instance: &str,
        ttl_ms: u64,
        max_peers: usize,
    ) -> redis::RedisResult<JoinReply> {
        let mut reply: Vec<String> = self
            .join
            .key(room_key(room))
            .arg(room)
            .arg(MEMBERS_CHANNEL)
            .arg(ttl_ms)
            .arg(max_peers)
            .arg(member(peer, instance))
            .invoke_async(conn)
            .await?;
        match reply.first().map(String::as_str) {
            Some("ok") => {
                reply.remove(0);
                Ok(JoinReply::Members(reply))
            }
            Some("full") => Ok(JoinReply::Full),
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "the join script answered neither ok nor full",
            ))),
        }
    }

    /// Announces that `peer` of this instance joined `room` (see [`JOIN`]).
    pub async fn announce(
        &self,
        conn: &mut MultiplexedConnection,
        room: &str,
        peer: &str,
        instance: &str,
    ) -> redis::RedisResult<()> {
        let event = Event::Joined {
            room: room.to_owned(),
            peer: peer.to_owned(),
            instance: instance.to_owned(),
        };
        let text = event.encode().map_err(|e| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "cannot encode an event",
                e.to_string(),
            ))
        })?;
        redis::cmd("PUBLISH")
            .arg(MEMBERS_CHANNEL)
            .arg(text)
            .query_async::<i64>(conn)
            .await
            .map(drop)
    }

    pub async fn leave(
        &self,
        conn: &mut MultiplexedConnection,
        room: &str,
        peer: &str,
        instance: &str,
    ) -> redis::RedisResult<bool> {
        let removed: i64 = self
            .leave
            .key(room_key(room))
            .arg(room)
            .arg(MEMBERS_CHANNEL)
            .arg(member(peer, instance))
            .invoke_async(conn)
            .await?;
        Ok(removed == 1)
    }

    /// Refreshes `peers` (this instance's members of `room`), re-adding missing ones if `add`;
    /// the members after the refresh, at most `limit`.
    #[allow(clippy::too_many_arguments)]
    pub async fn refresh(
        &self,
        conn: &mut MultiplexedConnection,
        room: &str,
        peers: &[String],
        instance: &str,
        ttl_ms: u64,
        add: bool,
        limit: usize,
    ) -> redis::RedisResult<Vec<String>> {
        let mut call = self.refresh.key(room_key(room));
        call.arg(room)
            .arg(MEMBERS_CHANNEL)
            .arg(ttl_ms)
            .arg(if add { "add" } else { "xx" })
            .arg(limit.max(1));
        for peer in peers {
            call.arg(member(peer, instance));
        }
        call.invoke_async(conn).await
    }
}
