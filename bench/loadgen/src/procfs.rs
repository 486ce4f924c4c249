//! CPU seconds and peak RSS of the processes under test, read from `/proc`.
//!
//! `utime + stime` of `/proc/PID/stat` covers every thread of the process (tokio workers, the SQLite writer,
//! blocking-pool threads). Children are not included: nginx's workers are watched one by one, by pid.

use crate::Result;
use serde_json::{Map, Value, json};

#[derive(Debug)]
struct Proc {
    name: String,
    pid: u32,
    start_ticks: Option<u64>,
    start_rss_kb: Option<u64>,
    /// Per thread id: its name and CPU ticks at the start.
    start_threads: Vec<(String, String, u64)>,
}

#[derive(Debug)]
pub struct Watched {
    procs: Vec<Proc>,
    clk_tck: u64,
    self_start: Option<u64>,
}

impl Watched {
    pub fn parse(specs: &[String], clk_tck: u64) -> Result<Self> {
        let procs = specs
            .iter()
            .map(|s| {
                let (name, pid) = s
                    .split_once('=')
                    .ok_or_else(|| format!("--watch takes name=pid, not {s}"))?;
                let pid = pid
                    .trim()
                    .parse()
                    .map_err(|_| format!("--watch {s}: not a pid"))?;
                Ok(Proc {
                    name: name.to_owned(),
                    pid,
                    start_ticks: None,
                    start_rss_kb: None,
                    start_threads: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            procs,
            clk_tck: clk_tck.max(1),
            self_start: None,
        })
    }

    /// `5` in clear_refs resets VmHWM to the current RSS (Linux 4.0+), so a phase's peak is its own.
    pub fn reset_hwm(&self) {
        for p in &self.procs {
            if let Err(e) = std::fs::write(format!("/proc/{}/clear_refs", p.pid), "5") {
                eprintln!("wxrn-load: cannot reset the peak RSS of {}: {e}", p.pid);
            }
        }
    }

    pub fn start(&mut self) {
        for p in &mut self.procs {
            p.start_ticks = cpu_ticks(&p.pid.to_string());
            p.start_rss_kb = status_kb(p.pid, "VmRSS:");
            p.start_threads = threads(p.pid);
        }
        self.self_start = cpu_ticks("self");
    }

    /// Per name: CPU seconds over the window, VmHWM and the RSS at the start, each summed over its pids.
    pub fn finish(&self) -> Value {
        let secs = |t: u64| t as f64 / self.clk_tck as f64;
        let mut out = Map::new();
        for p in &self.procs {
            let end = cpu_ticks(&p.pid.to_string());
            let used = match (p.start_ticks, end) {
                (Some(a), Some(b)) => Some(secs(b.saturating_sub(a))),
                _ => None,
            };
            let hwm = status_kb(p.pid, "VmHWM:");
            let entry = out.entry(p.name.clone()).or_insert_with(
                || json!({"cpu_s": 0.0, "vm_hwm_kb": 0, "vm_rss_start_kb": 0, "pids": []}),
            );
            if let Some(u) = used {
                entry["cpu_s"] = json!(entry["cpu_s"].as_f64().unwrap_or(0.0) + u);
            } else {
                entry["cpu_s_missing"] = json!(true);
            }
            if let Some(h) = hwm {
                // Summed over the processes of one name (nginx's workers): an upper bound of their joint peak.
                let sum = entry["vm_hwm_kb"].as_u64().unwrap_or(0) + h;
                entry["vm_hwm_kb"] = json!(sum);
            }
            if let Some(r) = p.start_rss_kb {
                // With all connections open, before the first request: what idle connections cost.
                let sum = entry["vm_rss_start_kb"].as_u64().unwrap_or(0) + r;
                entry["vm_rss_start_kb"] = json!(sum);
            }
            // Which threads did the work: a single busy thread would be a serial bottleneck.
            let mut per_thread: Map<String, Value> = Map::new();
            for (tid, comm, end) in threads(p.pid) {
                // A thread born during the window (a pool opening a connection) started from zero.
                let start = p
                    .start_threads
                    .iter()
                    .find(|(t, _, _)| *t == tid)
                    .map_or(0, |(_, _, ticks)| *ticks);
                let used = secs(end.saturating_sub(start));
                if let Some(list) = per_thread
                    .entry(comm)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    list.push(json!(used));
                }
            }
            entry["threads"] = Value::Object(per_thread);
            if let Some(pids) = entry["pids"].as_array_mut() {
                pids.push(json!(p.pid));
            }
        }
        let me = match (self.self_start, cpu_ticks("self")) {
            (Some(a), Some(b)) => json!(secs(b.saturating_sub(a))),
            _ => Value::Null,
        };
        out.insert("loadgen".into(), json!({"cpu_s": me}));
        Value::Object(out)
    }
}

/// utime + stime, in clock ticks. Fields counted after the `)` that ends the command name, which may hold spaces.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (thread id, thread name, utime + stime ticks) of every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let tid = e.ok()?.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
        let ticks = cpu_ticks(&format!("{pid}/task/{tid}"))?;
        Some((tid, comm.trim().to_owned(), ticks))
    })
    .collect()
}

/// A `kB` field of `/proc/PID/status`: `VmHWM:` (peak RSS) or `VmRSS:` (RSS now).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
