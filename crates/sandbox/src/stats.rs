//! Counters a test can assert on (`GET /sandbox/stats`, [`crate::SandboxHandle::stats`]).
use crate::Endpoint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A snapshot of the counters since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request that reached each endpoint, faulted or not.
    pub calls: PerEndpoint,
    /// Tokens issued by each token endpoint (a stable token handed out again is not counted again).
    pub tokens_issued: TokenCounts,
    /// Real-name consent codes issued (`POST /sandbox/consent`, `/sandbox/consent/bulk`).
    pub codes_issued: u64,
    /// Consent codes spent by `checkrealnameinfo`.
    pub codes_consumed: u64,
    /// `js_code`s issued by `POST /sandbox/login`.
    pub js_codes_issued: u64,
    /// `js_code`s spent by `jscode2session`.
    pub js_codes_consumed: u64,
    /// Non-zero errcodes answered, by code, including those of `errcode` faults. JSON keys are strings.
    pub errcodes: BTreeMap<i64, u64>,
    /// Successful checks by their most specific result (`V_NM_ID_MA`, `V_NM_ID_UM`, `V_OP_NM_UM`, `V_OP_NA`).
    pub outcomes: BTreeMap<String, u64>,
    /// Calls that a fault applied to.
    pub faults_applied: u64,
    /// Provider calls billed by the spec's rules (Tencent `Result` "0"/"-1", Aliyun BizCode 1/2), forced
    /// answers and dropped connections included.
    #[serde(default)]
    pub billed: Billed,
    /// Provider answers by endpoint and code: `"tencent_idcard:-5"`, `"aliyun_id2meta:BizCode1"`,
    /// `"aliyun_id2meta:SignatureDoesNotMatch"`.
    #[serde(default)]
    pub provider_answers: BTreeMap<String, u64>,
}

/// Billed provider calls, per provider endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billed {
    pub tencent_idcard: u64,
    pub aliyun_id2meta: u64,
}

impl Billed {
    pub(crate) fn bump(&mut self, endpoint: Endpoint) {
        match endpoint {
            Endpoint::TencentIdcard => self.tencent_idcard += 1,
            Endpoint::AliyunId2meta => self.aliyun_id2meta += 1,
            _ => {}
        }
    }
}

impl Stats {
    /// How many times `errcode` was answered.
    pub fn errcode(&self, errcode: i64) -> u64 {
        self.errcodes.get(&errcode).copied().unwrap_or(0)
    }
    /// How many checks ended with this result.
    pub fn outcome(&self, result: &str) -> u64 {
        self.outcomes.get(result).copied().unwrap_or(0)
    }
    /// How many times a provider endpoint answered `code` (see [`Stats::provider_answers`]).
    pub fn provider_answer(&self, endpoint: Endpoint, code: &str) -> u64 {
        self.provider_answers
            .get(&format!("{}:{code}", endpoint.as_str()))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerEndpoint {
    pub token: u64,
    pub stable_token: u64,
    pub jscode2session: u64,
    pub checkrealnameinfo: u64,
    #[serde(default)]
    pub tencent_idcard: u64,
    #[serde(default)]
    pub aliyun_id2meta: u64,
}

impl PerEndpoint {
    pub fn get(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Token => self.token,
            Endpoint::StableToken => self.stable_token,
            Endpoint::Jscode2session => self.jscode2session,
            Endpoint::Checkrealnameinfo => self.checkrealnameinfo,
            Endpoint::TencentIdcard => self.tencent_idcard,
            Endpoint::AliyunId2meta => self.aliyun_id2meta,
        }
    }
    pub(crate) fn bump(&mut self, endpoint: Endpoint) {
        let n = match endpoint {
            Endpoint::Token => &mut self.token,
            Endpoint::StableToken => &mut self.stable_token,
            Endpoint::Jscode2session => &mut self.jscode2session,
            Endpoint::Checkrealnameinfo => &mut self.checkrealnameinfo,
            Endpoint::TencentIdcard => &mut self.tencent_idcard,
            Endpoint::AliyunId2meta => &mut self.aliyun_id2meta,
        };
        *n += 1;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    pub token: u64,
    pub stable_token: u64,
}
