//! `service`'s command line and output, apart from the program so they
//! are tested on the host: [`parse`] turns MINIX's argument shapes into a
//! [`Command`], [`Command::request`] into RS's typed request (with the
//! defaults of RS's service table for `up`), and [`status_line`],
//! [`table`] and [`error_text`] make what the program prints. See the
//! crate README for the verbs.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use sys::proto::LABEL_LEN;
use sys::proto::service::{
    Policy, RunState, ServiceEntry, ServiceRequest, ServiceStatus, UP_NO_BACKOFF,
};
use sys::{Errno, HZ};

/// The usage synopsis (printed after a bad command line).
pub const SYNOPSIS: &str = "service up <program> [-label L] [-period N[s]] [-args \"\"]\n       \
     service down|restart|refresh|fi|status <label>\n       \
     service update <label> [-program P]\n       \
     service list";

/// Ping period of `up` for a program not in RS's table: one second.
pub const DEFAULT_PERIOD: u32 = HZ as u32;

/// One `service` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start `program` as `label`; `period` overrides the table's.
    Up {
        /// Program (boot-module) name.
        program: String,
        /// Label.
        label: String,
        /// Ping period in ticks, if given.
        period: Option<u32>,
    },
    /// Stop a service.
    Down(String),
    /// Start a stopped service again.
    Restart(String),
    /// Stop and restart a running service.
    Refresh(String),
    /// Live update, to `program` (the same one when `None`).
    Update {
        /// Label.
        label: String,
        /// New program.
        program: Option<String>,
    },
    /// Controlled crash.
    Fi(String),
    /// Report one service.
    Status(String),
    /// Report every service.
    List,
}

/// The last component of a path (`/sbin/memory` -> `memory`).
fn program_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > LABEL_LEN || s.contains('\0') {
        return Err(format!("{what} must be 1 to {LABEL_LEN} bytes: {s:?}"));
    }
    Ok(())
}

/// A period in ticks: `N` ticks or `Ns` seconds.
fn parse_period(s: &str) -> Option<u32> {
    let (digits, scale) = match s.strip_suffix('s') {
        Some(d) => (d, HZ as u32),
        None => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()?.checked_mul(scale)
}

/// Parses `args` (`args[0]` is the program name). `Err` is the message
/// for a bad command line (the caller prints it with the synopsis and
/// exits 2).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let words = args.get(1..).unwrap_or(&[]);
    let Some((verb, rest)) = words.split_first() else {
        return Err("missing command".into());
    };
    // Operands and `-option value` pairs, in any order.
    let mut operands: Vec<&str> = Vec::new();
    let mut options: Vec<(&str, &str)> = Vec::new();
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        if let Some(name) = w.strip_prefix('-')
            && !name.is_empty()
        {
            let allowed: &[&str] = match verb.as_str() {
                "up" => &["label", "period", "args"],
                "update" => &["program"],
                _ => &[],
            };
            if !allowed.contains(&name) {
                return Err(format!("{verb}: unknown option -{name}"));
            }
            let Some(v) = it.next() else {
                return Err(format!("{verb}: option -{name} needs a value"));
            };
            options.push((name, v.as_str()));
        } else {
            operands.push(w.as_str());
        }
    }
    let opt = |n: &str| options.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| *v);
    let one = |what: &str| -> Result<String, String> {
        match operands.as_slice() {
            [x] => {
                check_name(what, x)?;
                Ok(x.to_string())
            }
            [] => Err(format!("{verb}: missing {what}")),
            _ => Err(format!("{verb}: one {what} only")),
        }
    };
    Ok(match verb.as_str() {
        "up" => {
            let path = one("program")?;
            let program = program_name(&path).to_string();
            check_name("program", &program)?;
            let label = opt("label").unwrap_or(&program).to_string();
            check_name("label", &label)?;
            let period = match opt("period") {
                Some(p) => Some(parse_period(p).ok_or_else(|| format!("up: bad period {p:?}"))?),
                None => None,
            };
            if opt("args").is_some_and(|a| !a.trim().is_empty()) {
                return Err(
                    "up: -args is not supported (RS gives a program its label as argument)".into(),
                );
            }
            Command::Up {
                program,
                label,
                period,
            }
        }
        "down" => Command::Down(one("label")?),
        "restart" => Command::Restart(one("label")?),
        "refresh" => Command::Refresh(one("label")?),
        "update" => {
            let label = one("label")?;
            let program = match opt("program") {
                Some(p) => {
                    let p = program_name(p);
                    check_name("program", p)?;
                    Some(p.to_string())
                }
                None => None,
            };
            Command::Update { label, program }
        }
        "fi" => Command::Fi(one("label")?),
        "status" => Command::Status(one("label")?),
        "list" => {
            if !operands.is_empty() {
                return Err("list takes no operands".into());
            }
            Command::List
        }
        other => return Err(format!("unknown command {other:?}")),
    })
}

impl Command {
    /// The label the command is about (`None` for `list`).
    pub fn label(&self) -> Option<&str> {
        match self {
            Command::Up { label, .. } | Command::Update { label, .. } => Some(label),
            Command::Down(l)
            | Command::Restart(l)
            | Command::Refresh(l)
            | Command::Fi(l)
            | Command::Status(l) => Some(l),
            Command::List => None,
        }
    }

    /// Fills in what RS's table knows: `update` without `-program`
    /// updates to the program the label runs now.
    pub fn resolve(&mut self, entries: &[ServiceEntry]) {
        if let Command::Update {
            label,
            program: program @ None,
        } = self
            && let Some(e) = entries.iter().find(|e| e.label == *label)
        {
            *program = Some(e.program.clone());
        }
    }

    /// Whether [`Command::resolve`] needs RS's list.
    pub fn needs_list(&self) -> bool {
        matches!(self, Command::Update { program: None, .. })
    }

    /// RS's request for this command (`None` for `list`, which takes one
    /// request per entry). `up` takes the policy, period and back-off of
    /// RS's table row for the program (restart policy, one second, with
    /// back-off for a program not in the table).
    pub fn request(&self, id: u64) -> Option<ServiceRequest> {
        Some(match self {
            Command::Up {
                program,
                label,
                period,
            } => {
                let row = rs::services::SERVICES
                    .iter()
                    .find(|s| s.program == program.as_str());
                let table_period = row.map_or(DEFAULT_PERIOD, |r| {
                    u32::try_from(r.period).unwrap_or(DEFAULT_PERIOD)
                });
                ServiceRequest::Up {
                    id,
                    label: label.clone(),
                    program: program.clone(),
                    policy: row.map_or(Policy::Restart, |r| r.policy),
                    period: period.unwrap_or(table_period),
                    flags: if row.is_some_and(|r| r.no_backoff) {
                        UP_NO_BACKOFF
                    } else {
                        0
                    },
                }
            }
            Command::Down(label) => ServiceRequest::Down {
                id,
                label: label.clone(),
            },
            Command::Restart(label) => ServiceRequest::Restart {
                id,
                label: label.clone(),
            },
            Command::Refresh(label) => ServiceRequest::Refresh {
                id,
                label: label.clone(),
            },
            Command::Update { label, program } => ServiceRequest::Update {
                id,
                label: label.clone(),
                // Without -program the program looks up the label's
                // current program in RS's list first ([`Command::resolve`]);
                // the label is the fallback.
                program: program.clone().unwrap_or_else(|| label.clone()),
            },
            Command::Fi(label) => ServiceRequest::Fi {
                id,
                label: label.clone(),
            },
            Command::Status(label) => ServiceRequest::Status {
                id,
                label: label.clone(),
            },
            Command::List => return None,
        })
    }
}

/// A run state as `service` prints it.
pub fn state_name(s: RunState) -> &'static str {
    match s {
        RunState::Initializing => "initializing",
        RunState::Running => "running",
        RunState::BackingOff => "backing-off",
        RunState::Stopping => "stopping",
        RunState::Down => "down",
        RunState::Refreshing => "refreshing",
        RunState::Updating => "updating",
    }
}

/// A restart policy as `service` prints it.
pub fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Restart => "restart",
        Policy::Reset => "reset",
        Policy::Stateful => "stateful",
    }
}

/// `service status`'s line: `label: state, endpoint E, restarts N, policy P`.
pub fn status_line(label: &str, s: &ServiceStatus) -> String {
    format!(
        "{label}: {}, endpoint {}, restarts {}, policy {}",
        state_name(s.state),
        s.endpoint,
        s.restarts,
        policy_name(s.policy)
    )
}

/// `service list`'s table: a header and one line per entry, columns
/// padded to their widest cell.
pub fn table(entries: &[ServiceEntry]) -> String {
    let mut rows: Vec<[String; 6]> = Vec::with_capacity(entries.len() + 1);
    rows.push(
        [
            "LABEL", "ENDPOINT", "STATE", "RESTARTS", "POLICY", "PROGRAM",
        ]
        .map(String::from),
    );
    for e in entries {
        rows.push([
            e.label.clone(),
            e.status.endpoint.to_string(),
            state_name(e.status.state).into(),
            e.status.restarts.to_string(),
            policy_name(e.status.policy).into(),
            e.program.clone(),
        ]);
    }
    let mut width = [0usize; 6];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(width).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The message for RS's refusal `e` of `cmd` (printed after `service: `),
/// given the C library's text for errors (`strerror`).
pub fn error_text(cmd: &Command, e: Errno, strerror: fn(Errno) -> &'static str) -> String {
    match (e, cmd.label()) {
        (Errno::EPERM, _) => strerror(e).into(),
        (Errno::ESRCH, Some(l)) if !matches!(cmd, Command::Up { .. }) => {
            format!("no such service: {l}")
        }
        (Errno::EBUSY, Some(l)) if matches!(cmd, Command::Up { .. }) => {
            format!("{l}: label in use")
        }
        (_, Some(l)) => format!("{l}: {}", strerror(e)),
        (_, None) => strerror(e).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::Endpoint;

    fn args(s: &str) -> Vec<String> {
        core::iter::once("service")
            .chain(s.split_whitespace())
            .map(String::from)
            .collect()
    }

    fn p(s: &str) -> Result<Command, String> {
        parse(&args(s))
    }

    #[test]
    fn minix_shapes_parse() {
        assert_eq!(
            p("up /sbin/memory"),
            Ok(Command::Up {
                program: "memory".into(),
                label: "memory".into(),
                period: None
            })
        );
        assert_eq!(
            p("up echo -label echo2 -period 3s"),
            Ok(Command::Up {
                program: "echo".into(),
                label: "echo2".into(),
                period: Some(300)
            })
        );
        // Options before the operand, ticks, an empty -args.
        let mut a = args("up -period 250 echo -label x -args");
        a.push(String::new());
        assert_eq!(
            parse(&a),
            Ok(Command::Up {
                program: "echo".into(),
                label: "x".into(),
                period: Some(250)
            })
        );
        assert_eq!(p("down mfs"), Ok(Command::Down("mfs".into())));
        assert_eq!(p("restart mfs"), Ok(Command::Restart("mfs".into())));
        assert_eq!(p("refresh mfs"), Ok(Command::Refresh("mfs".into())));
        assert_eq!(p("fi mfs"), Ok(Command::Fi("mfs".into())));
        assert_eq!(p("status mfs"), Ok(Command::Status("mfs".into())));
        assert_eq!(p("list"), Ok(Command::List));
        assert_eq!(
            p("update counter"),
            Ok(Command::Update {
                label: "counter".into(),
                program: None
            })
        );
        assert_eq!(
            p("update counter -program /bin/counter"),
            Ok(Command::Update {
                label: "counter".into(),
                program: Some("counter".into())
            })
        );
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        for (line, msg) in [
            ("", "missing command"),
            ("start x", "unknown command \"start\""),
            ("down", "down: missing label"),
            ("down a b", "down: one label only"),
            ("fi -label x mfs", "fi: unknown option -label"),
            ("up", "up: missing program"),
            ("up echo -label", "up: option -label needs a value"),
            ("up echo -period soon", "up: bad period \"soon\""),
            (
                "up echo -period 99999999999",
                "up: bad period \"99999999999\"",
            ),
            ("up echo -period 1e3s", "up: bad period \"1e3s\""),
            (
                "up echo -args -v",
                "up: -args is not supported (RS gives a program its label as argument)",
            ),
            ("list all", "list takes no operands"),
            (
                "status a-label-of-17-bytes",
                "label must be 1 to 16 bytes: \"a-label-of-17-bytes\"",
            ),
        ] {
            assert_eq!(p(line), Err(msg.to_string()), "{line:?}");
        }
    }

    #[test]
    fn up_takes_the_table_row_defaults() {
        let up = |s: &str| p(s).unwrap().request(5).unwrap();
        // memory: restart policy, the file-system ping period, no back-off.
        assert_eq!(
            up("up memory"),
            ServiceRequest::Up {
                id: 5,
                label: "memory".into(),
                program: "memory".into(),
                policy: Policy::Restart,
                period: rs::services::FS_PING_PERIOD as u32,
                flags: UP_NO_BACKOFF,
            }
        );
        // counter: stateful, with back-off; -period overrides.
        assert_eq!(
            up("up counter -label c2 -period 7"),
            ServiceRequest::Up {
                id: 5,
                label: "c2".into(),
                program: "counter".into(),
                policy: Policy::Stateful,
                period: 7,
                flags: 0,
            }
        );
        // Not in the table: restart, one second.
        assert!(matches!(
            up("up other"),
            ServiceRequest::Up {
                policy: Policy::Restart,
                period: DEFAULT_PERIOD,
                flags: 0,
                ..
            }
        ));
        assert_eq!(p("list").unwrap().request(1), None);
        assert_eq!(
            p("fi mfs").unwrap().request(3),
            Some(ServiceRequest::Fi {
                id: 3,
                label: "mfs".into()
            })
        );
    }

    fn st(state: RunState) -> ServiceStatus {
        ServiceStatus {
            endpoint: Endpoint::new(12, 1),
            restarts: 3,
            state,
            policy: Policy::Stateful,
        }
    }

    #[test]
    fn update_without_program_keeps_the_current_one() {
        let mut c = p("update mfs2").unwrap();
        assert!(c.needs_list());
        c.resolve(&[ServiceEntry {
            label: "mfs2".into(),
            program: "mfs".into(),
            status: st(RunState::Running),
        }]);
        assert!(!c.needs_list());
        assert_eq!(
            c.request(4),
            Some(ServiceRequest::Update {
                id: 4,
                label: "mfs2".into(),
                program: "mfs".into()
            })
        );
        // A label RS does not list: the request goes out and RS says ESRCH.
        let mut c = p("update nosuch").unwrap();
        c.resolve(&[]);
        assert!(
            matches!(c.request(1), Some(ServiceRequest::Update { program, .. }) if program == "nosuch")
        );
    }

    #[test]
    fn output_lines() {
        assert_eq!(
            status_line("mfs", &st(RunState::Running)),
            "mfs: running, endpoint 12.1, restarts 3, policy stateful"
        );
        let t = table(&[
            ServiceEntry {
                label: "ds".into(),
                program: "ds".into(),
                status: ServiceStatus {
                    endpoint: Endpoint::DS,
                    restarts: 0,
                    state: RunState::Running,
                    policy: Policy::Stateful,
                },
            },
            ServiceEntry {
                label: "virtio-blk".into(),
                program: "virtio-blk".into(),
                status: st(RunState::BackingOff),
            },
        ]);
        assert_eq!(
            t,
            "LABEL       ENDPOINT  STATE        RESTARTS  POLICY    PROGRAM\n\
             ds          3.0       running      0         stateful  ds\n\
             virtio-blk  12.1      backing-off  3         stateful  virtio-blk\n"
        );
    }

    #[test]
    fn error_messages() {
        let se = |e: Errno| match e {
            Errno::EPERM => "Operation not permitted",
            Errno::EBUSY => "Device busy",
            _ => "Other",
        };
        let down = Command::Down("foo".into());
        assert_eq!(error_text(&down, Errno::ESRCH, se), "no such service: foo");
        assert_eq!(
            error_text(&down, Errno::EPERM, se),
            "Operation not permitted"
        );
        assert_eq!(error_text(&down, Errno::EBUSY, se), "foo: Device busy");
        let up = p("up nosuchprog").unwrap();
        assert_eq!(
            error_text(&up, Errno::EBUSY, se),
            "nosuchprog: label in use"
        );
        assert_eq!(error_text(&up, Errno::ESRCH, se), "nosuchprog: Other");
        assert_eq!(error_text(&Command::List, Errno::EAGAIN, se), "Other");
    }
}
