//! `wxrealname idcard check`: validate ID numbers one by one or in bulk.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use i18n::cli as t;
use identity::CredId;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check ID numbers. Exit 0 when all are valid, 1 when any is invalid, 2 on usage errors.
    Check {
        /// One JSON object per input line instead of text.
        #[arg(long)]
        json: bool,
        /// Read ID numbers from this file, one per line ("-" for standard input).
        #[arg(long)]
        file: Option<PathBuf>,
        /// ID numbers to check.
        ids: Vec<String>,
    },
}

#[derive(Debug, Serialize)]
struct Line<'a> {
    input: &'a str,
    valid: bool,
    normalized: Option<String>,
    error: Option<ErrorOut>,
    birth_date: Option<String>,
    sex: Option<identity::Sex>,
    minor: Option<bool>,
}

#[derive(Debug, Serialize)]
struct ErrorOut {
    code: &'static str,
    message: String,
    /// For `legacy_15`: the 18-digit equivalent.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

fn check_one(input: &str, today: chrono::NaiveDate) -> Line<'_> {
    match CredId::parse_on(input, today) {
        Ok(id) => Line {
            input,
            valid: true,
            normalized: Some(id.expose().to_owned()),
            error: None,
            birth_date: Some(id.birth_date().format("%Y-%m-%d").to_string()),
            sex: Some(id.sex()),
            minor: Some(id.is_minor_on(today)),
        },
        Err(e) => {
            let hint = match &e {
                identity::CredIdError::Legacy15 { hint } => hint.clone(),
                _ => None,
            };
            Line {
                input,
                valid: false,
                normalized: None,
                error: Some(ErrorOut {
                    code: e.code(),
                    message: super::check::cred_reason(&e),
                    hint,
                }),
                birth_date: None,
                sex: None,
                minor: None,
            }
        }
    }
}

/// "valid" or "invalid", padded so that the numbers after them line up (a CJK character is two columns wide).
fn label(valid: bool) -> String {
    let width = |s: &str| {
        s.chars()
            .map(|c| if i18n::has_cjk(&c.to_string()) { 2 } else { 1 })
            .sum::<usize>()
    };
    let (yes, no) = (t::IDCARD_VALID.cli(), t::IDCARD_INVALID.cli());
    let column = width(yes).max(width(no));
    let text = if valid { yes } else { no };
    format!("{text}{}", " ".repeat(column - width(text)))
}

fn render(line: &Line<'_>, json: bool) -> String {
    if json {
        return serde_json::to_string(line).unwrap_or_default();
    }
    match (&line.normalized, &line.error) {
        (Some(n), _) => format!(
            "{}  {n}  {}  {}{}",
            label(true),
            t::IDCARD_BORN.cli_fill(&[("date", &line.birth_date.as_deref().unwrap_or(""))]),
            match line.sex {
                Some(identity::Sex::Male) => t::IDCARD_MALE.cli(),
                _ => t::IDCARD_FEMALE.cli(),
            },
            if line.minor == Some(true) {
                format!("  {}", t::IDCARD_UNDER_14.cli())
            } else {
                String::new()
            }
        ),
        (None, Some(e)) => {
            let hint = e
                .hint
                .as_deref()
                .map(|h| t::IDCARD_LEGACY_HINT.cli_fill(&[("hint", &h)]))
                .unwrap_or_default();
            format!(
                "{}  {}  {}: {}{hint}",
                label(false),
                line.input.trim(),
                e.code,
                e.message
            )
        }
        (None, None) => String::new(),
    }
}

pub fn run(cmd: Command) -> anyhow::Result<u8> {
    let Command::Check { json, file, ids } = cmd;
    let mut inputs = ids;
    if let Some(path) = &file {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match std::fs::File::open(path) {
                Ok(f) => Box::new(std::io::BufReader::new(f)),
                Err(e) => {
                    super::error(
                        t::CANNOT_READ_FILE.cli_fill(&[("path", &path.display()), ("error", &e)]),
                    );
                    return Ok(EXIT_USAGE);
                }
            }
        };
        for line in reader.lines() {
            let line = line?;
            if !line.trim().is_empty() {
                inputs.push(line);
            }
        }
    }
    if inputs.is_empty() {
        super::error(t::IDCARD_NO_INPUT.cli());
        return Ok(EXIT_USAGE);
    }
    let today = identity::today_in_china();
    let bar = (file.is_some() && std::io::stderr().is_terminal() && inputs.len() > 1000)
        .then(|| indicatif::ProgressBar::new(inputs.len() as u64));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut invalid = 0usize;
    for (i, input) in inputs.iter().enumerate() {
        let line = check_one(input, today);
        invalid += usize::from(!line.valid);
        writeln!(out, "{}", render(&line, json))?;
        if let Some(bar) = &bar
            && i % 1024 == 0
        {
            bar.set_position(i as u64);
        }
    }
    out.flush()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if file.is_some() && !json {
        eprintln!(
            "{}",
            t::IDCARD_SUMMARY.cli_fill(&[
                ("total", &inputs.len()),
                ("valid", &(inputs.len() - invalid)),
                ("invalid", &invalid)
            ])
        );
    }
    Ok(if invalid == 0 { EXIT_OK } else { EXIT_FAILURE })
}
