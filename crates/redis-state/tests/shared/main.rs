//! One test binary. The contract suite (`contract.rs`) runs the same bodies against the in-memory stores and
//! against Redis; the rest is Redis only: key layout and TTLs, two token managers sharing Redis in front of
//! the sandbox, and outages.
//!
//! Redis is expected at `WXRN_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). A test that needs it starts
//! with `test_support::needs!(Redis)`: with `CI=true` it fails when Redis cannot be reached; outside CI it is skipped
//! with one line on stderr. Every test uses its own random key prefix and removes its keys
//! at the end.
mod contract;
mod helpers;
mod managers;
mod outage;
mod redis_keys;

/// Instantiates every contract body for one backend, each as its own test on a fresh backend.
macro_rules! contract_suite {
    ($backend:ident, $make:expr $(, needs $service:ident)?) => {
        mod $backend {
            use super::contract;
            use super::helpers::Backend;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        $(test_support::needs!($service);)?
                        let backend = $make.await;
                        contract::$name(&backend).await;
                        backend.finish().await;
                    }
                };
            }

            case!(tokens_round_trip_and_replace);
            case!(invalidate_removes_only_the_failed_token);
            case!(lock_is_exclusive_across_instances);
            case!(an_expired_lease_frees_the_lock_and_a_stale_unlock_keeps_the_new_one);
            case!(limiter_counts_to_the_limit_then_denies_until_the_window_ends);
            case!(limiter_windows_and_buckets_are_independent);
            case!(limits_hold_across_instances);
            case!(concurrent_hits_never_pass_the_limit);
            case!(a_count_given_back_frees_its_place_across_instances);
            case!(concurrent_counts_and_give_backs_never_pass_the_limit);
        }
    };
}

contract_suite!(memory, crate::helpers::MemoryBackend::new());
contract_suite!(redis, crate::helpers::RedisBackend::new(), needs Redis);
