//! Where a run's CPU went, read from `/proc`: the service's processes,
//! PostgreSQL, RabbitMQ, and this benchmark process (the mock providers
//! and, when it runs, the bare client), against what the whole machine
//! used. A rate alone cannot say whether Tocsin waits or is out of CPU;
//! with the CPU per delivery beside it, the cost of each part is a number
//! that can be compared with the bare client's cost per request.
//!
//! Linux only: elsewhere every reading is zero and the table says so.

use std::time::Instant;

/// `/proc/<pid>/stat` counts CPU time in ticks of USER_HZ, which the
/// kernel's ABI fixes at 100 per second on every architecture Linux ships
/// for userspace.
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds used so far, per part of the system.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// `serve` and the workers.
    pub tocsin: f64,
    /// Every `postgres` process: backends, WAL writer, checkpointer,
    /// autovacuum.
    pub postgres: f64,
    /// RabbitMQ's Erlang VM.
    pub rabbitmq: f64,
    /// This process: the mocks and the bare client.
    pub bench: f64,
    /// Every CPU of the machine: busy and idle seconds.
    pub machine_busy: f64,
    pub machine_idle: f64,
}

/// A reading taken at a moment, to subtract from a later one.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    at: Instant,
    reading: Reading,
}

/// CPU used between two marks, per unit of work (deliveries or requests).
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    pub wall_s: f64,
    pub work: u64,
    pub used: Reading,
}

impl Mark {
    /// Reads now. `tocsin` are the service's process ids (none for a bare
    /// client run).
    pub fn now(tocsin: &[u32]) -> Mark {
        Mark {
            at: Instant::now(),
            reading: read(tocsin),
        }
    }

    /// What was used since this mark, for `work` units.
    pub fn spent(&self, tocsin: &[u32], work: u64) -> Spent {
        let now = read(tocsin);
        let was = self.reading;
        Spent {
            wall_s: self.at.elapsed().as_secs_f64(),
            work,
            used: Reading {
                tocsin: now.tocsin - was.tocsin,
                postgres: now.postgres - was.postgres,
                rabbitmq: now.rabbitmq - was.rabbitmq,
                bench: now.bench - was.bench,
                machine_busy: now.machine_busy - was.machine_busy,
                machine_idle: now.machine_idle - was.machine_idle,
            },
        }
    }
}

impl Spent {
    /// Microseconds of CPU per unit of work.
    pub fn per_unit_us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.work.max(1) as f64
    }

    /// Share of the machine's CPU time that was busy.
    pub fn busy_share(&self) -> f64 {
        let all = self.used.machine_busy + self.used.machine_idle;
        if all > 0.0 {
            self.used.machine_busy / all
        } else {
            0.0
        }
    }
}

fn read(tocsin: &[u32]) -> Reading {
    let mut r = Reading {
        tocsin: tocsin
            .iter()
            .map(|pid| process_seconds(&pid.to_string()))
            .sum(),
        bench: process_seconds("self"),
        ..Reading::default()
    };
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match comm.trim_end() {
                "postgres" => r.postgres += process_seconds(pid),
                "beam.smp" => r.rabbitmq += process_seconds(pid),
                _ => {}
            }
        }
    }
    (r.machine_busy, r.machine_idle) = machine_seconds();
    r
}

/// User + system CPU seconds of a process and all its threads, from
/// `/proc/<pid>/stat`; 0 when it is gone.
pub fn process_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| stat_ticks(&s))
        .map_or(0.0, |t| t as f64 / TICKS_PER_S)
}

/// utime + stime of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted after its
/// closing parenthesis: utime and stime are the 12th and 13th there.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and idle seconds of all CPUs together, from the first line of
/// `/proc/stat` (idle includes iowait).
fn machine_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    cpu_line(stat.lines().next().unwrap_or_default()).map_or((0.0, 0.0), |(busy, idle)| {
        (busy as f64 / TICKS_PER_S, idle as f64 / TICKS_PER_S)
    })
}

/// `cpu  user nice system idle iowait irq softirq steal …` → (busy, idle)
/// ticks; guest time is already inside user.
fn cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.strip_prefix("cpu ")?.split_whitespace();
    let mut n = || -> Option<u64> { fields.next()?.parse().ok() };
    let (user, nice, system, idle, iowait) = (n()?, n()?, n()?, n()?, n()?);
    let (irq, softirq, steal) = (n()?, n()?, n().unwrap_or(0));
    Some((user + nice + system + irq + softirq + steal, idle + iowait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let line =
            "4242 (tokio rt) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0";
        assert_eq!(stat_ticks(line), Some(1234 + 567));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[test]
    fn the_machine_line_splits_busy_from_idle() {
        let line = "cpu  100 5 50 1000 20 3 2 1 0 0";
        assert_eq!(cpu_line(line), Some((100 + 5 + 50 + 3 + 2 + 1, 1000 + 20)));
        assert_eq!(cpu_line("cpu0 1 2 3 4 5 6 7"), None);
    }

    #[test]
    fn this_process_is_seen_using_cpu() {
        let mark = Mark::now(&[]);
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let spent = mark.spent(&[], 1);
        assert!(spent.used.bench >= 0.02, "{spent:?}");
        assert!(spent.used.machine_busy >= 0.02, "{spent:?}");
    }
}
