//! Redis sliding-log backend: one sorted set per `(policy, key)`, and every
//! pair of a request evaluated by a single atomic Lua script call.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::{Decision, LimitError, Policy, Verdict};

/// KEYS[i]: the sorted set of pair `i`, members unique per accepted request,
/// scores are the caller's `now_ms`.
/// ARGV[1]: now_ms; ARGV[2]: a request id unique across instances;
/// ARGV[1 + 2i], ARGV[2 + 2i]: limit and window_ms of pair `i`.
/// Returns `allowed, remaining, reset_after_ms` per pair, flattened.
///
/// Redis runs a script without interleaving other commands, so two instances
/// can never both take the last slot of a window.
const SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local id = ARGV[2]
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  -- an entry at t counts while now - t < window
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local allowed = 0
  local remaining = 0
  if count < limit then
    redis.call('ZADD', key, now, id .. ':' .. i)
    -- Redis expires keys on its own clock; the margin keeps entries alive for
    -- callers whose clocks lag the recording instance by up to a second.
    redis.call('PEXPIRE', key, window + 1000)
    allowed = 1
    remaining = limit - count - 1
  end
  local reset = window
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
    if reset < 0 then reset = 0 end
  end
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
";

/// A rate limit decision must not stall a request for long: past these the
/// caller gets a [`LimitError`] and applies its own fail-open/closed rule.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECT_RETRIES: usize = 2;
/// The backoff multiplies a 1 s base delay by this factor per attempt
/// (redis 0.27's default of 100 meant a 100 s wait), capped by `MAX_RETRY_DELAY_MS`.
const RETRY_FACTOR: u64 = 2;
const MAX_RETRY_DELAY_MS: u64 = 250;

/// Limiter backed by Redis; clones share one multiplexed, self-reconnecting connection.
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` and loads the script; every key starts with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, LimitError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(CONNECT_RETRIES)
            .set_factor(RETRY_FACTOR)
            .set_max_delay(MAX_RETRY_DELAY_MS);
        let mut conn = ConnectionManager::new_with_config(client, config).await?;
        let script = Script::new(SCRIPT);
        // Loading now turns a wrong URL or a Redis without Lua into a startup
        // error rather than a failure on the first request.
        script.prepare_invoke().load_async(&mut conn).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                script,
                prefix: prefix.into(),
            }),
        })
    }

    /// SHA1 of the Lua script, as used by `EVALSHA`.
    pub fn script_sha(&self) -> &str {
        self.inner.script.get_hash()
    }

    /// Source of the Lua script (for `redis-benchmark` and audits).
    pub fn script_source() -> &'static str {
        SCRIPT
    }

    /// The Redis key holding the entries of one pair: `{prefix}{policy}:{key}`.
    pub fn key_for(&self, policy: &Policy, key: &str) -> String {
        format!("{}{}:{}", self.inner.prefix, policy.name, key)
    }

    /// Applies every pair to one request in one atomic script call.
    pub async fn check(
        &self,
        checks: &[(&Policy, &str)],
        now_ms: i64,
    ) -> Result<Verdict, LimitError> {
        if checks.is_empty() {
            return Ok(Verdict::default());
        }
        let mut invocation = self.inner.script.prepare_invoke();
        for &(policy, key) in checks {
            invocation.key(self.key_for(policy, key));
        }
        // Members must be unique across instances and requests, or two
        // requests in the same millisecond would collapse into one entry.
        let request_id = format!("{:016x}", rand::random::<u64>());
        invocation.arg(now_ms).arg(request_id);
        for &(policy, _) in checks {
            invocation
                .arg(policy.limit)
                .arg(policy.effective_window_ms());
        }
        let mut conn = self.inner.conn.clone();
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        if reply.len() != 3 * checks.len() {
            return Err(LimitError::UnexpectedReply(format!(
                "expected {} integers, got {}",
                3 * checks.len(),
                reply.len()
            )));
        }
        let decisions = checks
            .iter()
            .zip(reply.chunks_exact(3))
            .map(|(&(policy, _), triple)| match *triple {
                [allowed, remaining, reset] => Ok(Decision {
                    policy: policy.clone(),
                    allowed: allowed == 1,
                    remaining: u32::try_from(remaining).map_err(|_| bad(remaining))?,
                    reset_after_ms: u64::try_from(reset).map_err(|_| bad(reset))?,
                }),
                _ => Err(LimitError::UnexpectedReply("short triple".into())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Verdict { decisions })
    }
}

fn bad(value: i64) -> LimitError {
    LimitError::UnexpectedReply(format!("out-of-range value {value}"))
}
